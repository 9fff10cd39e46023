// Package ses accepts Amazon SES events delivered through Amazon SNS: it
// verifies the SNS message signature (SignatureVersion 1, SHA1withRSA, and
// 2, SHA256withRSA) with the certificate named by SigningCertURL, which is
// fetched only from https://sns.<region>.amazonaws.com/ (or .amazonaws.com.cn
// for China's regions) and must be one SNS signs with (see
// SigningCertNames), accepts only the configured topic ARNs, answers
// subscription confirmations, and unwraps the SES record from the
// notification's Message. It registers itself as the
// "ses" provider; import it for that side effect.
//
// SNS signs fields of a JSON envelope, not the body's bytes, so the envelope
// is parsed before the signature is checked; nothing in it is used before.
package ses

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd/config"
	"github.com/hookd/hookd/event"
	"github.com/hookd/hookd/listener"
	"github.com/hookd/hookd/listener/internal/jsonerr"
)

// Provider is the registered name and the Provider of every event.
const Provider = "ses"

// DefaultTolerance is how far an SNS message's Timestamp may be from hookd's
// clock. SNS retries an HTTP/S delivery with the message as first signed,
// its original Timestamp and MessageId, for up to 3,600 seconds, the most
// any delivery policy allows. A tolerance of exactly that hour would refuse
// a retry sent late in the hour once it is delayed in transit or hookd's
// clock runs ahead, with a 401, which SNS is not known to retry, and its events
// would be lost; the second hour is the margin for that. The wider window
// lets no forgery in: the signature must still verify, and a genuine
// notification replayed inside it has the same MessageId, hence the same
// event ids, and is stored as a duplicate.
const DefaultTolerance = 2 * time.Hour

// SES is the Provider.
type SES struct{}

var (
	_ listener.Provider   = SES{}
	_ listener.Adapter    = (*Adapter)(nil)
	_ listener.Controller = (*Adapter)(nil)
)

func init() { listener.Register(Provider, SES{}) }

// New implements listener.Provider: verify.topic_arns (at least one) is
// required; verify.confirm_subscription (default false) makes the source
// confirm SNS subscriptions itself; verify.tolerance bounds the age of the
// message's Timestamp (default 2 hours, DefaultTolerance).
func (SES) New(src config.Source, env listener.Env) (listener.Adapter, error) {
	v := src.Verify
	errs := v.Unused("ses", "topic_arns", "confirm_subscription", "tolerance")
	if err := src.Map.Unused(); err != nil {
		errs = append(errs, err)
	}
	if len(v.TopicARNs) == 0 {
		errs = append(errs, &config.Error{Field: "verify.topic_arns", Err: errors.New("required: the ARNs of the SNS topics SES publishes to")})
	}
	a := &Adapter{topics: map[string]bool{}, confirm: v.ConfirmSubscription, tol: v.Tolerance,
		now: env.Clock(), client: env.Client, logger: env.Log(), certs: map[string]*signingCert{}}
	for i, arn := range v.TopicARNs {
		if !topicARN.MatchString(arn) {
			errs = append(errs, &config.Error{Field: fmt.Sprintf("verify.topic_arns[%d]", i), Err: fmt.Errorf("%q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", arn)})
		}
		a.topics[arn] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if a.tol == 0 {
		a.tol = DefaultTolerance
	}
	if a.client == nil {
		a.client = &http.Client{Timeout: 10 * time.Second}
	}
	return a, nil
}

var (
	topicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+$`)
	// An SNS endpoint is sns.REGION.DOMAIN, the region shaped as AWS names
	// them (us-east-1, GovCloud's us-gov-west-1, China's cn-north-1), so
	// that no other amazonaws.com name (an S3 bucket named "sns") passes.
	// The submatches are the region and the domain; see endpoint.
	snsHost = regexp.MustCompile(`^sns\.([a-z]{2}(?:-[a-z]+)+-[0-9]+)\.(amazonaws\.com(?:\.cn)?)$`)
	// certPath is the path of SNS's signing certificates.
	certPath = regexp.MustCompile(`^/SimpleNotificationService-[0-9a-f]+\.pem$`)
)

// AllowedURL reports whether u is an https URL of an SNS endpoint,
// https://sns.<region>.amazonaws.com/... (amazonaws.com.cn for China's
// regions, and only for them), with no user info and no port but 443: the
// only place a signing certificate is fetched from and a subscription
// confirmed at.
func AllowedURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.User != nil || p.Opaque != "" {
		return false
	}
	if port := p.Port(); port != "" && port != "443" {
		return false
	}
	_, _, ok := endpoint(p.Hostname())
	return ok
}

// endpoint returns the region and domain of the SNS endpoint host, and
// whether it is one. AWS documents SNS's endpoints as sns.REGION.amazonaws.com
// in its commercial and GovCloud partitions and sns.REGION.amazonaws.com.cn
// in China's: a China region under amazonaws.com, or another region under
// amazonaws.com.cn, is no SNS endpoint.
func endpoint(host string) (region, domain string, ok bool) {
	m := snsHost.FindStringSubmatch(host)
	if m == nil || strings.HasPrefix(m[1], "cn-") != (m[2] == "amazonaws.com.cn") {
		return "", "", false
	}
	return m[1], m[2], true
}

// SigningCertNames returns the DNS names of which a certificate SNS signs
// with at the endpoint host must name one (see endpoint; nil for another
// host). SNS's certificates are not issued for the endpoint they are
// fetched from: those of most regions name sns.amazonaws.com, those of the
// regions opened later (af-south-1, ap-east-1, ...)
// sns-signing.REGION.amazonaws.com, China's sns-REGION.amazonaws.com.cn and
// GovCloud's sns-us-gov-west-1.amazonaws.com, for both its regions. A name
// of each shape is accepted for the endpoint's own region and domain, and
// the endpoint's name too, so that a certificate of another region or
// partition, or any other the host might serve, is not.
func SigningCertNames(host string) []string {
	region, domain, ok := endpoint(host)
	if !ok {
		return nil
	}
	names := []string{
		"sns." + domain,
		"sns-signing." + region + "." + domain,
		"sns-" + region + "." + domain,
		host,
	}
	if strings.HasPrefix(region, "us-gov-") {
		names = append(names, "sns-us-gov-west-1.amazonaws.com")
	}
	return names
}

// issuedForSNS reports whether c names one of names: among its DNS names,
// or, when it has none, as its subject's common name.
func issuedForSNS(c *x509.Certificate, names []string) bool {
	given := c.DNSNames
	if len(given) == 0 {
		given = []string{c.Subject.CommonName}
	}
	for _, g := range given {
		for _, n := range names {
			if strings.EqualFold(g, n) {
				return true
			}
		}
	}
	return false
}

// Adapter verifies and decodes one source.
type Adapter struct {
	topics  map[string]bool
	confirm bool
	tol     time.Duration
	now     func() time.Time
	client  *http.Client
	logger  *slog.Logger

	mu    sync.Mutex
	certs map[string]*signingCert // by SigningCertURL
}

// signingCert is what Verify needs of a fetched signing certificate: its
// key, and its validity period, checked at each use since the certificate
// stays cached.
type signingCert struct {
	key                 *rsa.PublicKey
	notBefore, notAfter time.Time
}

// Message is an SNS message as posted to an HTTP endpoint.
type Message struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string `json:",omitempty"`
	TopicArn         string
	Subject          string `json:",omitempty"`
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string `json:",omitempty"`
	UnsubscribeURL   string `json:",omitempty"`
}

// StringToSign returns the text SNS signs for m: the names and values of
// its signed fields, in order, each followed by a line break.
func (m *Message) StringToSign() string {
	var b strings.Builder
	add := func(k, v string) {
		b.WriteString(k)
		b.WriteByte('\n')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == "Notification" {
		if m.Subject != "" {
			add("Subject", m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicArn)
	add("Type", m.Type)
	return b.String()
}

// Verify implements listener.Adapter: the body is SNS's signed envelope
// (a delivery made with raw message delivery on is refused with an answer
// that says to turn it off), the topic is one configured, the
// Timestamp within the tolerance, the certificate URL an SNS endpoint, the
// certificate one SNS signs with (SigningCertNames) and valid now, and the
// signature valid under it. A certificate that cannot be fetched is 503, so
// SNS retries; a URL that SNS's endpoint answers with a 4xx (other than 408
// and 429) names no certificate, and is 401, as is a certificate not issued
// for SNS or outside its validity period.
func (a *Adapter) Verify(ctx context.Context, r *http.Request, body []byte) error {
	var m Message
	err := json.Unmarshal(body, &m)
	switch {
	case rawDelivery(r) && (err != nil || m.Signature == ""):
		return listener.Unauthorized(errRawDelivery)
	case err != nil:
		return listener.Unauthorized("not an SNS message")
	case m.Signature == "":
		return listener.Unauthorized(`missing "Signature"`)
	case m.SigningCertURL == "":
		return listener.Unauthorized(`missing "SigningCertURL"`)
	case !a.topics[m.TopicArn]:
		return listener.Unauthorized(`"TopicArn": not a topic this source accepts`)
	case m.Type != "Notification" && m.Type != "SubscriptionConfirmation" && m.Type != "UnsubscribeConfirmation":
		return listener.Unauthorized(`"Type": not an SNS message type`)
	}
	var h crypto.Hash
	switch m.SignatureVersion {
	case "1":
		h = crypto.SHA1
	case "2":
		h = crypto.SHA256
	default:
		return listener.Unauthorized(`"SignatureVersion": want 1 or 2`)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return listener.Unauthorized(`"Timestamp": not RFC 3339`)
	}
	if d := a.now().Sub(ts); d > a.tol || d < -a.tol {
		return listener.Unauthorized(fmt.Sprintf(`"Timestamp": outside the tolerance of %s`, a.tol))
	}
	if u, err := url.Parse(m.SigningCertURL); err != nil || !AllowedURL(m.SigningCertURL) || !certPath.MatchString(u.Path) || u.RawQuery != "" || u.Fragment != "" {
		return listener.Unauthorized(`"SigningCertURL": not an SNS certificate URL`)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return listener.Unauthorized(`"Signature": not base64`)
	}
	cert, err := a.cert(ctx, m.SigningCertURL)
	switch {
	case errors.Is(err, errNoCert):
		// Anyone who knows a topic's ARN can name a file of SNS's host
		// that does not exist: a 503 would have every such request logged
		// as an error and counted as an outage.
		return listener.Unauthorized(`"SigningCertURL": no certificate there`)
	case errors.Is(err, errNotSNS):
		return listener.Unauthorized(`"SigningCertURL": not a certificate issued for SNS`)
	case err != nil:
		return listener.Unavailable("cannot fetch the SNS signing certificate, retry later", err)
	}
	if now := a.now(); now.Before(cert.notBefore) || now.After(cert.notAfter) {
		return listener.Unauthorized(`"SigningCertURL": the certificate is expired or not yet valid`)
	}
	var sum []byte
	if h == crypto.SHA1 {
		s := sha1.Sum([]byte(m.StringToSign()))
		sum = s[:]
	} else {
		s := sha256.Sum256([]byte(m.StringToSign()))
		sum = s[:]
	}
	if rsa.VerifyPKCS1v15(cert.key, h, sum, sig) != nil {
		return listener.Unauthorized(`"Signature": does not match`)
	}
	return nil
}

// errRawDelivery is Verify's answer to a delivery that SNS made with raw
// message delivery on: the message alone, which SNS does not sign.
const errRawDelivery = "raw message delivery is on for this SNS subscription: SNS signs only the JSON envelope it wraps a message in, so turn raw message delivery off"

// rawDelivery reports whether r says that SNS delivered it with raw message
// delivery on (the header x-amz-sns-rawdelivery: true). Verify then names
// the setting, rather than a missing field that only SNS's envelope has.
func rawDelivery(r *http.Request) bool {
	return r != nil && strings.EqualFold(r.Header.Get("X-Amz-Sns-Rawdelivery"), "true")
}

// maxCerts bounds the certificate cache; SNS uses a handful of URLs.
const maxCerts = 32

// errNoCert is cert's error when SNS's endpoint answers that there is no
// file at the URL (a 4xx other than 408 and 429): a URL that no genuine
// message names, unlike a fetch that failed, which may work when retried.
var errNoCert = errors.New("no certificate at the URL")

// errNotSNS is cert's error for a certificate that names none of
// SigningCertNames: whatever else SNS's host serves, it is not what SNS
// signs with.
var errNotSNS = errors.New("not issued for SNS")

// cert returns the certificate at u, an AllowedURL, fetched once and
// checked to be issued for SNS; its validity period is the caller's to
// check.
func (a *Adapter) cert(ctx context.Context, u string) (*signingCert, error) {
	a.mu.Lock()
	sc, ok := a.certs[u]
	a.mu.Unlock()
	if ok {
		return sc, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch certificate: %w", err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch certificate: %w", err)
	}
	defer resp.Body.Close()
	if c := resp.StatusCode; c >= 400 && c <= 499 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests {
		return nil, fmt.Errorf("fetch certificate %s: %s: %w", u, resp.Status, errNoCert)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch certificate %s: %s", u, resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch certificate: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("certificate %s: not PEM", u)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", u, err)
	}
	if !issuedForSNS(c, SigningCertNames(req.URL.Hostname())) {
		return nil, fmt.Errorf("certificate %s: %w", u, errNotSNS)
	}
	k, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("certificate %s: not an RSA key", u)
	}
	sc = &signingCert{key: k, notBefore: c.NotBefore, notAfter: c.NotAfter}
	a.mu.Lock()
	if len(a.certs) >= maxCerts {
		clear(a.certs)
	}
	a.certs[u] = sc
	a.mu.Unlock()
	return sc, nil
}

// Control implements listener.Controller. A SubscriptionConfirmation is
// confirmed by fetching its SubscribeURL (an SNS endpoint) when the source
// has confirm_subscription; otherwise the URL is logged for an operator to
// open. An UnsubscribeConfirmation is logged. A Notification that SES sends
// when a topic is set up (see SetupNotice) is logged at info. All are
// answered 200.
func (a *Adapter) Control(ctx context.Context, _ http.Header, body []byte) (bool, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return false, nil // Decode reports it
	}
	switch m.Type {
	case "Notification":
		if notice, ok := SetupNotice(m.Message); ok {
			a.logger.Info("SES set-up notification", "topic", m.TopicArn, "message", notice)
			return true, nil
		}
	case "SubscriptionConfirmation":
		if !AllowedURL(m.SubscribeURL) {
			return false, listener.Unauthorized(`"SubscribeURL": not an SNS URL`)
		}
		if !a.confirm {
			a.logger.Warn("SNS subscription awaits confirmation: open SubscribeURL, or set verify.confirm_subscription",
				"topic", m.TopicArn, "subscribe_url", m.SubscribeURL)
			return true, nil
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.SubscribeURL, nil)
		if err != nil {
			return false, listener.Unauthorized(`"SubscribeURL": not a URL`)
		}
		resp, err := a.client.Do(req)
		if err != nil {
			return false, listener.Unavailable("cannot confirm the SNS subscription, retry later", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, listener.Unavailable("cannot confirm the SNS subscription, retry later", fmt.Errorf("confirm subscription: %s", resp.Status))
		}
		a.logger.Info("SNS subscription confirmed", "topic", m.TopicArn)
		return true, nil
	case "UnsubscribeConfirmation":
		a.logger.Warn("SNS subscription ended", "topic", m.TopicArn)
		return true, nil
	}
	return false, nil
}

// validatedTopic starts the plain-text Message SES publishes to a topic
// when an event destination is set up with it.
const validatedTopic = "Successfully validated SNS topic"

// SetupNotice reports whether the Message of an SNS Notification is one SES
// sends when a topic is set up, rather than an SES record, and returns what
// it says: the {"notificationType":"AmazonSnsSubscriptionSucceeded"} record
// of an identity's notifications, or the plain text "Successfully validated
// SNS topic for Amazon SES event publishing." of an event destination.
func SetupNotice(message string) (string, bool) {
	if strings.HasPrefix(message, validatedTopic) {
		return message, true
	}
	var r struct {
		NotificationType string `json:"notificationType"`
		Message          string `json:"message"`
	}
	if json.Unmarshal([]byte(message), &r) == nil && r.NotificationType == "AmazonSnsSubscriptionSucceeded" {
		return r.Message, true
	}
	return "", false
}

// Decode implements listener.Adapter.
func (a *Adapter) Decode(_ http.Header, body []byte) ([]event.Event, error) { return Decode(body) }

type recipient struct {
	EmailAddress string `json:"emailAddress"`
}

// record is the SES event (eventType) or notification (notificationType)
// in an SNS Message.
type record struct {
	EventType        string `json:"eventType"`
	NotificationType string `json:"notificationType"`
	Mail             struct {
		Timestamp   string   `json:"timestamp"`
		MessageID   string   `json:"messageId"`
		Destination []string `json:"destination"`
		Tags        map[string][]string
	} `json:"mail"`
	Bounce *struct {
		BounceType        string      `json:"bounceType"`
		BounceSubType     string      `json:"bounceSubType"`
		BouncedRecipients []recipient `json:"bouncedRecipients"`
		Timestamp         string      `json:"timestamp"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients  []recipient `json:"complainedRecipients"`
		ComplaintSubType      string      `json:"complaintSubType"`
		ComplaintFeedbackType string      `json:"complaintFeedbackType"`
		Timestamp             string      `json:"timestamp"`
	} `json:"complaint"`
	Delivery *struct {
		Recipients []string `json:"recipients"`
		Timestamp  string   `json:"timestamp"`
	} `json:"delivery"`
	DeliveryDelay *struct {
		DelayedRecipients []recipient `json:"delayedRecipients"`
		Timestamp         string      `json:"timestamp"`
	} `json:"deliveryDelay"`
	Open *struct {
		Timestamp string `json:"timestamp"`
	} `json:"open"`
	Click *struct {
		Timestamp string `json:"timestamp"`
	} `json:"click"`
	Subscription *struct {
		Timestamp           string          `json:"timestamp"`
		NewTopicPreferences json.RawMessage `json:"newTopicPreferences"`
		OldTopicPreferences json.RawMessage `json:"oldTopicPreferences"`
	} `json:"subscription"`
}

// preferences are a contact's topic preferences in a Subscription record.
type preferences struct {
	UnsubscribeAll                 bool          `json:"unsubscribeAll"`
	TopicSubscriptionStatus        []topicStatus `json:"topicSubscriptionStatus"`
	TopicDefaultSubscriptionStatus []topicStatus `json:"topicDefaultSubscriptionStatus"`
}

type topicStatus struct {
	TopicName          string `json:"topicName"`
	SubscriptionStatus string `json:"subscriptionStatus"`
}

// optedOut returns what p opts out of: "unsubscribeAll", and "topic " and
// the name of each topic whose status, or failing one its default status,
// is OptOut.
func (p *preferences) optedOut() map[string]bool {
	out := map[string]bool{}
	if p.UnsubscribeAll {
		out["unsubscribeAll"] = true
	}
	status := map[string]string{}
	for _, list := range [][]topicStatus{p.TopicDefaultSubscriptionStatus, p.TopicSubscriptionStatus} {
		for _, t := range list {
			status[t.TopicName] = t.SubscriptionStatus
		}
	}
	for name, s := range status {
		// "OptOut" in event records, OPT_OUT in the API.
		if strings.EqualFold(strings.ReplaceAll(s, "_", ""), "optout") {
			out["topic "+name] = true
		}
	}
	return out
}

// subscriptionCategory returns unsubscribe when a Subscription record's new
// preferences opt out of something its old ones did not (every topic, or
// one), and "" when they only opt in or change nothing: SES records
// opt-ins as Subscription events too.
func subscriptionCategory(newPrefs, oldPrefs json.RawMessage) (event.Category, error) {
	var n, o preferences
	for _, p := range []struct {
		name string
		raw  json.RawMessage
		into *preferences
	}{{"newTopicPreferences", newPrefs, &n}, {"oldTopicPreferences", oldPrefs, &o}} {
		if len(p.raw) > 0 && json.Unmarshal(p.raw, p.into) != nil {
			return "", fmt.Errorf(`"subscription.%s": want an object of unsubscribeAll (true or false) and topic statuses`, p.name)
		}
	}
	before := o.optedOut()
	for k := range n.optedOut() {
		if !before[k] {
			return event.Unsubscribe, nil
		}
	}
	return "", nil
}

// suppressed reports whether a Bounce's bounceSubType or a Complaint's
// complaintSubType says that SES declined to send to the address rather than
// that a receiving server refused it or its recipient complained:
// Suppressed, the address is on SES's global suppression list ("because it
// has a recent history of producing hard bounces"), and
// OnAccountSuppressionList, it is on the account's own list ("SES accepted
// the message, but didn't attempt to send it"). SES sent nothing, so such a
// record is blocked, as Mailgun's suppress-* failures and SendGrid's dropped
// are, not a bounce or a complaint: counting it as one would count the same
// address again each time a message to it is suppressed.
func suppressed(subType string) bool {
	return subType == "Suppressed" || subType == "OnAccountSuppressionList"
}

var categories = map[string]event.Category{
	"Send":          event.Sent,
	"Delivery":      event.Delivered,
	"DeliveryDelay": event.Deferred,
	"Open":          event.Open,
	"Click":         event.Click,
	"Bounce":        event.Bounce,
	"Complaint":     event.Complaint,
	"Reject":        event.Blocked,
	// A template that did not render: SES sent nothing, as for Reject.
	"Rendering Failure": event.Blocked,
}

// Decode unwraps the SES record from an SNS Notification. SES names the
// recipients of Bounce (bouncedRecipients), Complaint
// (complainedRecipients), Delivery (recipients) and DeliveryDelay
// (delayedRecipients) records: those give one event per recipient named.
// The others (Send, Reject, Open, Click, Rendering Failure, Subscription)
// concern the message, and SES does not say which of its recipients opened
// or clicked it: they give one event, whose Email is the message's
// destination when it has exactly one and empty otherwise (data.mail.destination
// lists them all). Type is the record's eventType (or notificationType),
// Time its type's timestamp (else the mail's), MessageID mail.messageId,
// Campaign the mail's "campaign" tag, ID "ses:" + the SNS MessageId + ":" +
// the recipient's index (0 for an event of the message), so SNS's retries
// are duplicates. A Permanent bounce is hard, a Transient one soft. A
// Bounce whose bounceSubType is Suppressed or OnAccountSuppressionList, and a
// Complaint whose complaintSubType is OnAccountSuppressionList, is blocked,
// with no bounce class (see suppressed), its Type still SES's; a Complaint
// whose complaintFeedbackType is not-spam has no category. A
// Subscription is an unsubscribe when its new topic preferences opt out of
// something the old ones did not, and has no category otherwise (an
// opt-in). Data is the SES record. Control messages and SES's set-up
// notifications (SetupNotice) give no events.
func Decode(body []byte) ([]event.Event, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decode SNS message: %w", jsonerr.Want("a JSON object", err))
	}
	if m.Type != "Notification" {
		if m.Type == "SubscriptionConfirmation" || m.Type == "UnsubscribeConfirmation" {
			return nil, nil
		}
		return nil, fmt.Errorf(`decode SNS message: "Type" %q: not an SNS message type`, m.Type)
	}
	if m.MessageID == "" {
		return nil, errors.New(`decode SNS message: "MessageId": missing`)
	}
	if _, ok := SetupNotice(m.Message); ok {
		return nil, nil
	}
	var r record
	if err := json.Unmarshal([]byte(m.Message), &r); err != nil {
		return nil, fmt.Errorf(`decode SNS message: "Message": not an SES record: %w`, jsonerr.Explain("", err))
	}
	typ := r.EventType
	if typ == "" {
		typ = r.NotificationType
	}
	if typ == "" {
		return nil, errors.New(`decode SES record: "eventType": missing`)
	}
	at := r.Mail.Timestamp
	cat := categories[typ]
	var class event.BounceClass
	// named: the recipients SES names as those the event concerns; nil
	// for an event of the whole message.
	var named []string
	switch {
	case r.Bounce != nil:
		at, named = r.Bounce.Timestamp, emails(r.Bounce.BouncedRecipients)
		switch r.Bounce.BounceType {
		case "Permanent":
			class = event.Hard
		case "Transient":
			class = event.Soft
		}
		if suppressed(r.Bounce.BounceSubType) {
			cat = event.Blocked
		}
	case r.Complaint != nil:
		at, named = r.Complaint.Timestamp, emails(r.Complaint.ComplainedRecipients)
		switch {
		case suppressed(r.Complaint.ComplaintSubType):
			cat = event.Blocked
		case r.Complaint.ComplaintFeedbackType == "not-spam":
			// The feedback report's Feedback-Type (RFC 5965): the
			// provider reports the message as not spam, a correction,
			// which rules that answer complaints must not act on.
			cat = ""
		}
	case r.Delivery != nil:
		at, named = r.Delivery.Timestamp, r.Delivery.Recipients
	case r.DeliveryDelay != nil:
		at, named = r.DeliveryDelay.Timestamp, emails(r.DeliveryDelay.DelayedRecipients)
	case r.Open != nil:
		at = r.Open.Timestamp
	case r.Click != nil:
		at = r.Click.Timestamp
	case r.Subscription != nil:
		at = r.Subscription.Timestamp
		var err error
		if cat, err = subscriptionCategory(r.Subscription.NewTopicPreferences, r.Subscription.OldTopicPreferences); err != nil {
			return nil, fmt.Errorf("decode SES record: %s: %w", typ, err)
		}
	}
	if at == "" {
		at = r.Mail.Timestamp
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return nil, fmt.Errorf("decode SES record: %s timestamp %q: not RFC 3339", typ, at)
	}
	perRecipient := r.Bounce != nil || r.Complaint != nil || r.Delivery != nil || r.DeliveryDelay != nil
	if perRecipient && len(named) == 0 || !perRecipient && len(r.Mail.Destination) == 0 {
		return nil, fmt.Errorf("decode SES record: %s: no recipient", typ)
	}
	var campaign string
	if c := r.Mail.Tags["campaign"]; len(c) > 0 {
		campaign = c[0]
	}
	data := json.RawMessage(m.Message)
	if !json.Valid(data) {
		return nil, errors.New(`decode SNS message: "Message": not JSON`)
	}
	base := event.Event{
		Provider:  Provider,
		Type:      typ,
		Time:      t.UTC(),
		MessageID: r.Mail.MessageID,
		Campaign:  campaign,
		Category:  cat,
		Data:      data,
	}
	// Only a bounce has a class. A suppressed Bounce keeps none, as Mailgun's
	// suppress-bounce does: the class says what a receiving server answered
	// for the address, and none was asked. Hard would claim more than SES
	// says (the account's list also holds addresses that complained, and the
	// global list addresses that bounced for other senders); the bounce that
	// put the address on a list was an event of its own, and the subtype
	// stays in data.bounce.bounceSubType for a rule that wants it.
	if cat == event.Bounce {
		base.BounceClass = class
	}
	if !perRecipient {
		e := base
		e.ID = Provider + ":" + m.MessageID + ":0"
		if len(r.Mail.Destination) == 1 {
			e.Email, e.Domain = event.NormalizeEmail(r.Mail.Destination[0])
		}
		return []event.Event{e}, nil
	}
	events := make([]event.Event, 0, len(named))
	for i, addr := range named {
		e := base
		e.ID = Provider + ":" + m.MessageID + ":" + strconv.Itoa(i)
		e.Email, e.Domain = event.NormalizeEmail(addr)
		if e.Email == "" {
			return nil, fmt.Errorf("decode SES record: %s: recipient %d: empty address", typ, i)
		}
		events = append(events, e)
	}
	return events, nil
}

func emails(rs []recipient) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.EmailAddress
	}
	return out
}
