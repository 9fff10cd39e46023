// Command sign posts a file of SendGrid events to a hook URL signed as
// SendGrid's Event Webhook signs a delivery: an ECDSA P-256 signature
// (base64 ASN.1 DER) of SHA-256 over the timestamp header's value followed
// by the body, in the X-Twilio-Email-Event-Webhook-Signature and
// X-Twilio-Email-Event-Webhook-Timestamp headers. The file is posted as
// it is, one request, as SendGrid posts a batch. It prints the answer's
// status and body, and exits 1 unless the answer is 2xx.
//
// It is the example's stand-in for SendGrid, and signs with the example's
// demo key, whose public half is in verification-key.txt; with -tamper it
// adds a space to the body after signing it, the events unchanged, to show
// that a signature covers the bytes.
//
//	go run ./examples/sendgrid-signed/sign [-key FILE] [-tamper] EVENTS.json URL
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sign:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	keyFile := fs.String("key", "examples/sendgrid-signed/demo-signing-key.pem", "the signing key, a PEM PRIVATE KEY (PKCS #8, ECDSA P-256)")
	tamper := fs.Bool("tamper", false, "add a space to the body after signing it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("want EVENTS.json and URL")
	}
	key, err := readKey(*keyFile)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	digest := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if *tamper {
		body = append(body, ' ')
	}
	req, err := http.NewRequest(http.MethodPost, fs.Arg(1), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
	req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	fmt.Fprintf(stdout, "%s\n%s\n", resp.Status, bytes.TrimSpace(answer))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// readKey reads an ECDSA private key from a PEM file.
func readKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: want a PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return ec, nil
}
