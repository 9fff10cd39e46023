// Package netfail says in an operator's words why a request got no
// answer, where Go's own words are terse: a dead letter that reads "EOF"
// tells its reader nothing.
package netfail

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// Explain returns err, the failure of a request to get an answer, with
// what it means said first where Go's words are terse: the server closed
// or reset the connection without answering, or its certificate is not
// trusted. Other errors are returned as they are. errors.Is and errors.As
// see err through the result.
func Explain(err error) error {
	var unknown x509.UnknownAuthorityError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the server closed the connection without answering (%w)", err)
	case errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("the server reset the connection without answering (%w)", err)
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (the server's certificate is not trusted: hookd trusts the CAs of the system's store, which SSL_CERT_FILE or SSL_CERT_DIR replace when set)", err)
	}
	return err
}
