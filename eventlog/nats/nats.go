// Package nats is hookd's event log on NATS JetStream, for high volumes and
// many consumers: watermill-nats's Subscriber on durable JetStream consumers,
// with a publisher of ours that waits for JetStream's acknowledgements. It
// registers itself as the "nats" backend of package eventlog, with the server
// address from eventlog.Config.URL.
//
// # Contract
//
// Streams. A topic T is the stream and the subject "P_T", where P is
// Config.Prefix, created at first use with file storage, every message
// kept (limits retention, no limits) and Config.Duplicates as its
// deduplication window. A stream that exists is used as it is, so an
// operator may give it replicas or limits. Trim (hookd serve's
// retention.log) purges the start of a stream up to the lowest ack floor
// of its consumers, so a group that is behind holds messages back; it
// sets no MaxAge, which would drop messages a group has not acked.
//
// Durability. Append and Publish publish every message and return nil only
// once JetStream acknowledged each one, that is stored it in the stream
// (on a cluster, on a quorum of the stream's replicas). nats-server writes
// to its files at once but fsyncs them every two minutes unless it runs
// with `jetstream { sync_interval: always }`: a single server that loses
// power can lose acknowledged messages; a replicated stream, or that
// setting, keeps them. There is no transaction across messages: when
// Append fails, some of its messages may have been stored, and a retry of
// them is recognised as long as the window below holds.
//
// Deduplication. Each message with an eventlog.DedupKey is published with
// that key as its Nats-Msg-Id; JetStream drops one whose id it stored in
// the stream's last Config.Duplicates (24h by default, Mailjet's retry
// horizon) and says so, and Append reports it as a duplicate. Past the
// window a retried message is appended again, and within it also when
// Trim purged the first one (the window keeps its ids through a purge).
// hookd does not rely on the
// window alone: the store inserts events under their unique id and
// evaluates rules only on the events it inserted, so a late retry is
// stored once and triggers nothing twice; it only counts as accepted
// instead of duplicate in the hook's answer. JetStream keeps the window's
// ids in memory, about 100 bytes per message: a day at 100 events/s is
// about 1 GB; lower Duplicates for higher volumes.
//
// Groups and order. A consumer group is a durable push consumer of the
// stream, "G_P_T", delivering to a queue group G: its position survives
// restarts, and each message goes to one of the group's subscribers in any
// process. The consumer has one message delivered and not acked at a time
// across all its subscribers (MaxAckPending 1), so the group receives the
// stream in order, a nacked message first again, however many replicas
// subscribe: the store's rules see the events in log order. A larger
// eventlog.InFlight is accepted and delivers one at a time all the same,
// since watermill-nats's subscriber hands a process one message at a time
// anyway; more in flight would only let replicas overtake each other. A
// message not acked within Config.AckWait (a subscriber that closed, a
// process that died) is delivered again. A new group starts at the first
// message.
//
// Lost streams. A stream deleted while hookd runs (by an operator, or with
// the storage of a server that lost it) is created again as at first use,
// with a warning naming what was lost: by the first Append that finds no
// stream to take its messages (nats.go says "no responders"), which then
// publishes them once more, with the same Nats-Msg-Id, and returns nil
// only once JetStream acknowledged them; by Ping; and by each
// subscription, which checks every Config.ConsumerCheck that its group's
// consumer exists and creates it again, with the stream if need be, so
// that it receives the new stream, from its first message, without
// subscribing again. What the old stream held is gone: its messages, the
// groups' positions and its deduplication window, so a retry of a message
// appended before is appended again (the store still keeps each event
// once). An operator who means to change a stream's settings edits it
// (nats stream edit) rather than deleting and adding it, since hookd may
// create it first with its own.
//
// Disconnection. While the connection to the server is down, nothing is
// buffered for the reconnection (see connectOptions): requests fail at
// once, and those of Append, Ping and Subscribe with an error that says the
// server is not connected around nats.go's "outbound buffer limit
// exceeded", which reads like overload.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	natsgo "github.com/nats-io/nats.go"

	"github.com/hookd/hookd/eventlog"
)

var _ eventlog.Log = (*Log)(nil)

// ErrClosed is returned by the methods of a closed Log.
var ErrClosed = errors.New("nats event log closed")

func init() {
	eventlog.Register("nats", func(ctx context.Context, cfg eventlog.Config, logger *slog.Logger) (eventlog.Log, error) {
		return Open(ctx, Config{URL: cfg.URL, Prefix: cfg.Prefix, Logger: logger})
	})
}

// Config configures a Log. A zero field takes its default.
type Config struct {
	// URL is the server address, such as nats://127.0.0.1:4222; a comma
	// separated list names the servers of a cluster. Required.
	URL string
	// Prefix starts the name of every stream and subject. Default
	// "hookd". Letters, digits and '_', starting with a letter or '_'.
	Prefix string
	// Duplicates is the deduplication window of the streams this Log
	// creates. Default 24h.
	Duplicates time.Duration
	// AckWait is how long a delivered message may stay unacked before
	// JetStream delivers it again. Default 30s.
	AckWait time.Duration
	// NackBackoff is how long JetStream waits before it delivers a nacked
	// message again. Default 100ms.
	NackBackoff time.Duration
	// Timeout bounds connecting and each publish acknowledgement. Default 5s.
	Timeout time.Duration
	// ConsumerCheck is how often a subscription checks that its group's
	// consumer exists, to create it again when its stream was deleted or
	// lost. Default 5s.
	ConsumerCheck time.Duration
	// Logger receives the subscribers' errors. Nil discards.
	Logger *slog.Logger
}

var prefixRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "hookd"
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 24 * time.Hour
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.NackBackoff <= 0 {
		c.NackBackoff = 100 * time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.ConsumerCheck <= 0 {
		c.ConsumerCheck = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Log is an event log on a NATS server with JetStream. All methods are safe
// for concurrent use.
type Log struct {
	cfg       Config
	conn      *natsgo.Conn
	js        natsgo.JetStreamContext
	marshaler wmnats.NATSMarshaler
	logger    watermill.LoggerAdapter

	mu     sync.Mutex
	closed bool
	// streams holds every topic this Log has used, true while its stream
	// is taken to exist; forgetStream makes it false.
	streams map[string]bool
	subs    []*subscriber
	// creating holds a value while a stream is looked up and created, so
	// that appends that find it missing together create it, and warn,
	// once; a channel, so that waiting for it ends with ctx.
	creating chan struct{}
}

// Open connects to cfg.URL and checks that JetStream answers; cfg.Timeout
// bounds both. ctx is for symmetry with the other backends.
func Open(_ context.Context, cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if cfg.URL == "" {
		return nil, errors.New("open nats event log: no url")
	}
	if !prefixRE.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("open nats event log: invalid prefix %q: use letters, digits and '_'", cfg.Prefix)
	}
	conn, err := natsgo.Connect(cfg.URL, connectOptions(cfg, "publisher")...)
	if err != nil {
		// A URL that does not parse is quoted whole by net/url's error,
		// credentials included: keep only why it does not parse.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = fmt.Errorf("invalid url: %w", ue.Err)
		}
		return nil, fmt.Errorf("open nats event log: connect to %s: %w", redact(cfg.URL), err)
	}
	js, err := conn.JetStream(natsgo.MaxWait(cfg.Timeout))
	if err == nil {
		_, err = js.AccountInfo()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open nats event log: jetstream: %w", err)
	}
	return &Log{
		cfg:      cfg,
		conn:     conn,
		js:       js,
		logger:   quiet(cfg.Logger),
		streams:  map[string]bool{},
		creating: make(chan struct{}, 1),
	}, nil
}

// redact returns the server list urls without their credentials, for
// error messages and logs: a password is replaced by "xxxxx", and so is a
// user name without one, which nats.go sends as a token (nats://TOKEN@host),
// and whatever precedes the host of a URL that does not parse.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		at := strings.LastIndex(p, "@")
		if at < 0 {
			continue
		}
		if u, err := url.Parse(p); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				parts[i] = u.Redacted()
				continue
			}
		}
		start := 0
		if s := strings.Index(p[:at], "://"); s >= 0 {
			start = s + len("://")
		}
		parts[i] = p[:start] + "xxxxx" + p[at:]
	}
	return strings.Join(parts, ",")
}

// connectOptions are the options of the Log's connections; conn names one
// in the log lines. No publish is buffered while the connection is down
// (ReconnectBufSize -1): an Append then fails at once, and its events are
// not sent later, after the request was answered 503.
func connectOptions(cfg Config, conn string) []natsgo.Option {
	logger := cfg.Logger.With("conn", conn)
	return []natsgo.Option{
		natsgo.Name("hookd"), natsgo.Timeout(cfg.Timeout), natsgo.MaxReconnects(-1), natsgo.ReconnectBufSize(-1),
		natsgo.DisconnectErrHandler(func(nc *natsgo.Conn, err error) {
			if nc.IsClosed() {
				// Close, as hookd stops: nothing is lost or retried.
				return
			}
			logger.Warn("nats event log: disconnected, reconnecting", "err", err)
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			// nats.go's ConnectedUrlRedacted hides a password, not a token.
			logger.Info("nats event log: reconnected", "server", redact(nc.ConnectedUrl()))
		}),
	}
}

// quiet adapts logger for watermill, whose Info messages (a subscriber
// starts or closes) are hookd's Debug.
func quiet(logger *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}

// stream is the name of topic's stream and subject.
func (l *Log) stream(topic string) string { return l.cfg.Prefix + "_" + topic }

// ensureStream makes sure topic's stream exists, creating it when it does
// not, within ctx and Config.Timeout. A stream it found or created is
// taken to exist, without asking again, until forgetStream. Creating the
// stream of a topic this Log has used is a warning: the stream was deleted
// or lost (a server that lost its JetStream storage), and with it its
// messages, its consumers and its deduplication window.
func (l *Log) ensureStream(ctx context.Context, topic string) error {
	if ok, _, err := l.streamKnown(topic); ok || err != nil {
		return err
	}
	name := l.stream(topic)
	if strings.ContainsAny(name, ".*> \t\r\n/\\") {
		return fmt.Errorf("invalid topic %q for a stream name", topic)
	}
	select {
	case l.creating <- struct{}{}:
		defer func() { <-l.creating }()
	case <-ctx.Done():
		return fmt.Errorf("create stream %s: %w", name, ctx.Err())
	}
	ok, used, err := l.streamKnown(topic)
	if ok || err != nil {
		return err // found or created meanwhile by the holder of creating
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	_, err = l.js.StreamInfo(name, natsgo.Context(ctx))
	if errors.Is(err, natsgo.ErrStreamNotFound) {
		_, err = l.js.AddStream(&natsgo.StreamConfig{
			Name:       name,
			Subjects:   []string{name},
			Storage:    natsgo.FileStorage,
			Retention:  natsgo.LimitsPolicy,
			Duplicates: l.cfg.Duplicates,
		}, natsgo.Context(ctx))
		switch {
		case errors.Is(err, natsgo.ErrStreamNameAlreadyInUse):
			err = nil // another process created it meanwhile
		case err == nil && used:
			l.cfg.Logger.Warn("nats event log: stream missing, created it again: it was deleted, or the NATS server lost its JetStream storage; "+
				"its messages, its consumer groups' positions and its deduplication window are lost", "stream", name)
		case err == nil:
			l.cfg.Logger.Info("nats event log: created stream", "stream", name)
		}
	}
	if err != nil {
		return fmt.Errorf("create stream %s: %w", name, notConnected(err))
	}
	l.mu.Lock()
	l.streams[topic] = true
	l.mu.Unlock()
	return nil
}

// streamKnown tells whether topic's stream is taken to exist and whether
// this Log has used topic; it fails when l is closed.
func (l *Log) streamKnown(topic string) (exists, used bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, false, ErrClosed
	}
	exists, used = l.streams[topic]
	return exists, used, nil
}

// forgetStream makes ensureStream ask for topic's stream again, after a
// publish found no stream to take its message.
func (l *Log) forgetStream(topic string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.streams[topic]; ok {
		l.streams[topic] = false
	}
}

// notConnected says what a NATS client's "outbound buffer limit exceeded"
// means for a Log, whose connections buffer nothing while they reconnect
// (see connectOptions): the server is not connected, rather than
// overloaded. It returns other errors as they are.
func notConnected(err error) error {
	if errors.Is(err, natsgo.ErrReconnectBufExceeded) {
		return fmt.Errorf("not connected to the NATS server, reconnecting (nothing is buffered meanwhile): %w", err)
	}
	return err
}

// Ping tells whether an append of hook events would be taken now: it asks
// JetStream for the stream of eventlog.TopicEvents, a round trip to the
// stream itself (on a cluster, to its leader), within ctx. It fails when l
// is closed, the connection is down (it reconnects by itself), or
// JetStream does not answer for the stream.
//
// A missing events stream (deleted, or lost by a server that lost its
// JetStream storage) is created again, as Append creates it, with the same
// warning, and Ping fails only when that fails. Reporting it missing
// instead would not be honest: the next append would create it and
// succeed. And it would keep hookd unready for good, since a load balancer
// that sees /readyz fail sends no more hook requests, whose appends would
// have created the stream.
func (l *Log) Ping(ctx context.Context) error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return errors.New("ping nats event log: closed")
	}
	topic := eventlog.TopicEvents
	_, err := l.js.StreamInfo(l.stream(topic), natsgo.Context(ctx))
	switch {
	case err == nil:
		l.mu.Lock()
		l.streams[topic] = true // so that losing it later is warned of
		l.mu.Unlock()
	case errors.Is(err, natsgo.ErrStreamNotFound):
		l.forgetStream(topic)
		err = l.ensureStream(ctx, topic)
	}
	if err != nil {
		return fmt.Errorf("ping nats event log: %w", notConnected(err))
	}
	return nil
}

// Publish appends msgs to topic like Append and ignores which were
// duplicates.
func (l *Log) Publish(topic string, msgs ...*message.Message) error {
	return eventlog.Publish(l, topic, msgs)
}

// Append implements eventlog.Log; see the package documentation for what
// one transaction and deduplication mean on JetStream.
func (l *Log) Append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error) {
	dup, err := l.append(ctx, topic, msgs)
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", topic, err)
	}
	return dup, nil
}

func (l *Log) append(ctx context.Context, topic string, msgs []*message.Message) ([]bool, error) {
	if err := l.ensureStream(ctx, topic); err != nil {
		return nil, err
	}
	dup := make([]bool, len(msgs))
	all := make([]int, len(msgs))
	for i := range all {
		all[i] = i
	}
	lost, err := l.publish(ctx, topic, msgs, all, dup)
	if err != nil {
		return nil, err
	}
	if len(lost) == 0 {
		return dup, nil
	}
	// No stream took those messages: the stream was deleted, or the server
	// lost its JetStream storage, since this Log found it. Create it as a
	// restart would, and publish them once more with the same Nats-Msg-Id,
	// those the stream took the first time keeping their answer.
	id := msgs[lost[0]].UUID
	l.forgetStream(topic)
	if err := l.ensureStream(ctx, topic); err != nil {
		return nil, fmt.Errorf("publish %s: %w; %w", id, natsgo.ErrNoResponders, err)
	}
	lost, err = l.publish(ctx, topic, msgs, lost, dup)
	if err != nil {
		return nil, err
	}
	if len(lost) > 0 {
		return nil, fmt.Errorf("publish %s: %w, also once its stream was created again", msgs[lost[0]].UUID, natsgo.ErrNoResponders)
	}
	return dup, nil
}

// publish publishes msgs[i], for each i of which, to topic's stream and
// waits for JetStream's acknowledgement of each, setting dup[i]. It returns
// the indices of the messages that no stream took (nats.go's async publish
// says ErrNoResponders: nothing listens on the subject), and an error for
// any other failure.
func (l *Log) publish(ctx context.Context, topic string, msgs []*message.Message, which []int, dup []bool) (lost []int, err error) {
	subject := l.stream(topic)
	futures := make([]natsgo.PubAckFuture, len(which))
	for j, i := range which {
		m := msgs[i]
		nm, err := l.marshaler.Marshal(subject, m)
		if err != nil {
			return nil, fmt.Errorf("message %s: %w", m.UUID, err)
		}
		var opts []natsgo.PubOpt
		if k := m.Metadata.Get(eventlog.DedupKey); k != "" {
			opts = append(opts, natsgo.MsgId(k))
		}
		// Published asynchronously and then awaited, so that a batch
		// costs one round trip and one JetStream write pass.
		futures[j], err = l.js.PublishMsgAsync(nm, opts...)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", m.UUID, notConnected(err))
		}
	}
	timeout := time.NewTimer(l.cfg.Timeout)
	defer timeout.Stop()
	for j, f := range futures {
		i := which[j]
		select {
		case ack := <-f.Ok():
			dup[i] = ack.Duplicate
		case err := <-f.Err():
			if errors.Is(err, natsgo.ErrNoResponders) {
				lost = append(lost, i)
				continue
			}
			return nil, fmt.Errorf("publish %s: %w", msgs[i].UUID, err)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timeout.C:
			return nil, fmt.Errorf("publish %s: no acknowledgement within %s", msgs[i].UUID, l.cfg.Timeout)
		}
	}
	return lost, nil
}

// Subscriber implements eventlog.Log: a watermill-nats subscriber, on a
// connection of its own, attached to the group's durable consumer of each
// topic it subscribes to.
func (l *Log) Subscriber(group string, opts ...eventlog.SubscriberOption) (message.Subscriber, error) {
	if group == "" {
		return nil, errors.New("nats event log: subscriber needs a consumer group")
	}
	_ = eventlog.Options(opts...) // one in flight whatever is asked: see the package documentation
	qg := sanitize(group)
	durable := func(_, subject string) string { return qg + "_" + subject }
	sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{
		URL:              l.cfg.URL,
		NatsOptions:      connectOptions(l.cfg, "subscriber "+group),
		QueueGroupPrefix: qg,
		SubscribersCount: 1,
		AckWaitTimeout:   l.cfg.AckWait,
		CloseTimeout:     l.cfg.AckWait,
		SubscribeTimeout: l.cfg.Timeout,
		Unmarshaler:      &wmnats.NATSMarshaler{},
		NakDelay:         wmnats.NewStaticDelay(l.cfg.NackBackoff),
		JetStream: wmnats.JetStreamConfig{
			AutoProvision: false, // ensureStream and ensureConsumer do, with our settings
			// ManualAck: without it nats.go acks a message when the
			// handler returns, also one given up at Close.
			SubscribeOptions:  []natsgo.SubOpt{natsgo.ManualAck()},
			DurableCalculator: durable,
		},
	}, l.logger)
	if err != nil {
		return nil, fmt.Errorf("nats event log: new subscriber: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = sub.Close()
		return nil, ErrClosed
	}
	w := &subscriber{l: l, sub: sub, group: qg, durable: durable}
	w.closing, w.close = context.WithCancel(context.Background())
	l.subs = append(l.subs, w)
	return w, nil
}

// sanitize makes s usable as a consumer name.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(".*> \t\r\n/\\", r) {
			return '_'
		}
		return r
	}, s)
}

// subscriber creates the stream and the group's durable consumer before it
// subscribes: a consumer created by nats.go itself would be deleted when
// its subscription ends, and the group's position with it.
//
// Its subscriptions hand the messages on through forward, which decides
// when watermill-nats's subscription may stop, and watch, which creates
// the consumer again when it goes missing.
type subscriber struct {
	l       *Log
	sub     *wmnats.Subscriber
	group   string
	durable func(prefix, subject string) string

	mu       sync.Mutex
	closed   bool
	closing  context.Context // ends with Close, and every subscription with it
	close    context.CancelFunc
	forwards sync.WaitGroup
}

// Subscribe returns the messages of topic for the group; see forward for
// what happens to them when ctx ends.
func (s *subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := s.SubscribeInitialize(topic); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("subscribe to %s: %w", topic, ErrClosed)
	}
	// Only forward stops watermill-nats's subscription.
	subCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	in, err := s.sub.Subscribe(subCtx, s.l.stream(topic))
	if err != nil {
		stop()
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	fctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(s.closing, cancel)
	out := make(chan *message.Message)
	s.forwards.Go(func() {
		defer cancel()
		defer unhook()
		forward(fctx, in, out, stop)
	})
	s.forwards.Go(func() { s.watch(fctx, topic) })
	return out, nil
}

// SubscribeInitialize creates topic's stream and the group's consumer
// (watermill's SubscribeInitializer).
func (s *subscriber) SubscribeInitialize(topic string) error {
	return s.initialize(context.Background(), topic)
}

// initialize is SubscribeInitialize within ctx and Config.Timeout.
func (s *subscriber) initialize(ctx context.Context, topic string) error {
	if err := s.l.ensureStream(ctx, topic); err != nil {
		return fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.l.cfg.Timeout)
	defer cancel()
	jsCtx := natsgo.Context(ctx)
	stream := s.l.stream(topic)
	name := s.durable("", stream)
	cc := &natsgo.ConsumerConfig{
		Durable:        name,
		DeliverSubject: "_hookd_deliver." + stream + "." + name,
		DeliverGroup:   s.group,
		FilterSubject:  stream,
		DeliverPolicy:  natsgo.DeliverAllPolicy,
		AckPolicy:      natsgo.AckExplicitPolicy,
		AckWait:        s.l.cfg.AckWait,
		MaxAckPending:  1,
		ReplayPolicy:   natsgo.ReplayInstantPolicy,
	}
	_, err := s.l.js.ConsumerInfo(stream, name, jsCtx)
	switch {
	case errors.Is(err, natsgo.ErrConsumerNotFound):
		_, err = s.l.js.AddConsumer(stream, cc, jsCtx)
		if err != nil {
			// Another process may have created it meanwhile.
			if _, ierr := s.l.js.ConsumerInfo(stream, name, jsCtx); ierr == nil {
				err = nil
			}
		}
	case err == nil:
		// A setting that may change between runs: AckWait.
		_, err = s.l.js.UpdateConsumer(stream, cc, jsCtx)
	}
	if err != nil {
		return fmt.Errorf("subscribe to %s: consumer %s: %w", topic, name, notConnected(err))
	}
	return nil
}

// watch checks every Config.ConsumerCheck, until ctx ends, that the group's
// consumer of topic exists, and creates it again as Subscribe does, with
// its stream when that is missing too. A stream deleted or lost (a server
// that lost its JetStream storage) takes its consumers with it, and the
// subscription, still subscribed to its consumer's delivery subject, would
// receive nothing until a restart; a consumer created again with the same
// settings delivers to it. What the old stream held is gone: the group
// receives the new stream from its first message.
//
// A check that gets no answer (the connection is down, which is logged as
// such) is left to the next one. A failed creation is logged once, until
// one succeeds; each creation is logged.
func (s *subscriber) watch(ctx context.Context, topic string) {
	consumer := s.durable("", s.l.stream(topic))
	tick := time.NewTicker(s.l.cfg.ConsumerCheck)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		created, err := s.restore(ctx, topic)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failing {
				s.l.cfg.Logger.Warn("nats event log: consumer missing, cannot create it again; the group receives nothing meanwhile, retrying",
					"consumer", consumer, "err", err)
			}
			failing = true
			continue
		}
		failing = false
		if created {
			s.l.cfg.Logger.Warn("nats event log: consumer missing, created it again: its stream was deleted or lost; the group receives the stream from its first message",
				"consumer", consumer)
		}
	}
}

// restore creates the group's consumer of topic again, and its stream,
// when JetStream says it is missing, and reports whether it did.
func (s *subscriber) restore(ctx context.Context, topic string) (created bool, err error) {
	stream := s.l.stream(topic)
	cctx, cancel := context.WithTimeout(ctx, s.l.cfg.Timeout)
	_, err = s.l.js.ConsumerInfo(stream, s.durable("", stream), natsgo.Context(cctx))
	cancel()
	switch {
	case errors.Is(err, natsgo.ErrStreamNotFound):
		s.l.forgetStream(topic)
	case errors.Is(err, natsgo.ErrConsumerNotFound):
	default:
		return false, nil // there, or no answer: see watch
	}
	if err := s.initialize(ctx, topic); err != nil {
		return false, err
	}
	return true, nil
}

// Close ends the subscriptions, as forward does, then closes
// watermill-nats's subscriber. It is safe to call more than once.
func (s *subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	s.close()
	s.mu.Unlock()
	s.forwards.Wait()
	return s.sub.Close()
}

// Close closes every subscriber and the connection. Messages delivered and
// not acked are delivered again after Config.AckWait.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	subs := l.subs
	l.subs = nil
	l.mu.Unlock()
	var errs []error
	for _, s := range subs {
		errs = append(errs, s.Close())
	}
	errs = append(errs, l.conn.Drain())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close nats event log: %w", err)
	}
	return nil
}
