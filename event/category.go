package event

import "strings"

// Category is what happened to a message in the vocabulary shared by every
// provider, so that one rule (category == "bounce") covers them all. The
// provider's own word stays in Event.Type.
type Category string

// The categories. A provider's type that fits none of them has Category "".
const (
	// Sent: the provider accepted the message or handed it on.
	Sent Category = "sent"
	// Delivered: the receiving server accepted the message.
	Delivered Category = "delivered"
	// Deferred: delivery failed for now and will be retried.
	Deferred Category = "deferred"
	// Open: the recipient opened the message.
	Open Category = "open"
	// Click: the recipient followed a link.
	Click Category = "click"
	// Bounce: delivery failed for good or the message came back.
	Bounce Category = "bounce"
	// Blocked: the provider did not send the message (suppression list,
	// policy, a previous hard bounce, a sending error such as a quota
	// reached or an unverified domain).
	Blocked Category = "blocked"
	// Complaint: the recipient reported the message as spam.
	Complaint Category = "complaint"
	// Unsubscribe: the recipient unsubscribed.
	Unsubscribe Category = "unsubscribe"
)

// Categories lists every category, in the order of a message's life.
var Categories = []Category{Sent, Delivered, Deferred, Open, Click, Bounce, Blocked, Complaint, Unsubscribe}

// Valid reports whether c is one of Categories or "".
func (c Category) Valid() bool {
	if c == "" {
		return true
	}
	for _, k := range Categories {
		if c == k {
			return true
		}
	}
	return false
}

// BounceClass tells whether a bounce is permanent.
type BounceClass string

// The bounce classes.
const (
	// Hard: the address does not accept mail; do not send to it again.
	Hard BounceClass = "hard"
	// Soft: a temporary failure (full mailbox, greylisting, too large).
	Soft BounceClass = "soft"
)

// Valid reports whether b is Hard, Soft or "".
func (b BounceClass) Valid() bool { return b == "" || b == Hard || b == Soft }

// synonyms maps the words providers use for their event types to the
// shared categories. "failed" alone is a message the provider could not
// send (Resend's email.failed: a quota, a key, a domain), not one a
// receiving server refused; Mailgun, whose "failed" can be either, maps
// its own.
var synonyms = map[string]Category{
	"sent": Sent, "send": Sent, "processed": Sent, "accepted": Sent, "queued": Sent,
	"delivered": Delivered, "delivery": Delivered,
	"deferred": Deferred, "delayed": Deferred, "delivery_delayed": Deferred, "deferral": Deferred,
	"open": Open, "opened": Open, "opens": Open,
	"click": Click, "clicked": Click, "clicks": Click,
	"bounce": Bounce, "bounced": Bounce, "bounces": Bounce,
	"blocked": Blocked, "dropped": Blocked, "rejected": Blocked, "suppressed": Blocked, "reject": Blocked, "failed": Blocked,
	"complaint": Complaint, "complained": Complaint, "spam": Complaint, "spamreport": Complaint, "spam_report": Complaint, "spamcomplaint": Complaint,
	"unsubscribe": Unsubscribe, "unsubscribed": Unsubscribe, "unsub": Unsubscribe, "group_unsubscribe": Unsubscribe,
}

// ParseCategory returns the category of a provider's event type word, such
// as "bounced", "email.opened" or "Delivery": the word after the last '.',
// case-insensitive, among common provider vocabulary; "" when it is none.
func ParseCategory(typ string) Category {
	if i := strings.LastIndexByte(typ, '.'); i >= 0 {
		typ = typ[i+1:]
	}
	return synonyms[strings.ToLower(typ)]
}
