package sqlite_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/hookd/hookd/eventlog/sqlite"
)

// features are the ones the backend has. What is left false, and why:
//   - ExactlyOnceDelivery: delivery is at least once (a crash, a Nack or an
//     unacked message at Close redelivers).
//   - NewSubscriberReceivesOldMessages: true of every new consumer group,
//     but the suite's plain constructor must keep one group across calls
//     for the persistence tests; the conformance suite runs that test with
//     a new group per call instead.
//
// ForceShort is off: the suite runs at full size. TestPubSub sets
// RestartServiceCommand, except under the race detector.
var features = tests.Features{
	ConsumerGroups:  true,
	GuaranteedOrder: true,
	Persistent:      true,
}

// TestPubSub runs watermill's universal suite with every constructor call
// returning a new Publisher and Subscriber over one Log per test, as inside
// hookd, where the subscribers of a group share a cursor. The conformance
// suite (TestConformance) runs it with a Log per call instead, as separate
// processes would, so that delivery goes through leases, polling and
// offsets written on Close.
//
// An embedded log has no broker for TestReconnect to restart. Its "restart"
// here is what can happen to a file instead: another process opens every
// database of the run, appends to it and truncates its WAL while the test
// publishes and consumes (see disturb).
func TestPubSub(t *testing.T) {
	s := &suite{root: t.TempDir(), shared: true, dbs: map[string]*suiteDB{}}
	tests.TestPubSub(t, withDisturb(features, s.root), s.pubSub, s.groupPubSub)
}

// withDisturb sets f.RestartServiceCommand to disturb the databases under
// root, except under the race detector: TestReconnect itself races (it
// appends to its list of published messages in one goroutine and reads it
// in another without synchronization, watermill v1.5.1, test_pubsub.go
// lines 1086 and 1120), so under -race it would fail whatever the backend
// does.
func withDisturb(f tests.Features, root string) tests.Features {
	if !raceDetector {
		f.RestartServiceCommand = []string{os.Args[0], "-test.run=^$", "-disturb=" + root}
	}
	return f
}

var (
	disturbRoot = flag.String("disturb", "", "helper process of TestPubSub: disturb the databases under this directory")
	childPath   = flag.String("child", "", "helper process of TestKilledProcess: append to this database until killed")
)

func TestMain(m *testing.M) {
	flag.Parse()
	switch {
	case *disturbRoot != "":
		if err := disturb(*disturbRoot); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case *childPath != "":
		child(*childPath) // never returns
	}
	os.Exit(m.Run())
}

// disturb opens, as another process, every database under root: it appends
// a message to a topic of its own and checkpoints and truncates the WAL.
func disturb(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != sqlite.FileName {
			return err
		}
		l, err := sqlite.Open(context.Background(), path, sqlite.Config{})
		if err != nil {
			return err
		}
		err = l.Publish("disturbance", message.NewMessage(watermill.NewUUID(), []byte("x")))
		if cerr := l.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			return err
		}
		defer db.Close()
		var busy, logPages, checkpointed int
		if err := db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &checkpointed); err != nil {
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
		fmt.Printf("disturbed %s: busy %d, WAL pages %d, checkpointed %d\n", path, busy, logPages, checkpointed)
		return nil
	})
}

type suite struct {
	root   string // every database of the run lives under it
	shared bool
	mu     sync.Mutex
	dbs    map[string]*suiteDB // by test name
}

type suiteDB struct {
	path string
	log  *sqlite.Log // when shared
}

func (s *suite) pubSub(t *testing.T) (message.Publisher, message.Subscriber) {
	return s.groupPubSub(t, "")
}

func (s *suite) groupPubSub(t *testing.T, group string) (message.Publisher, message.Subscriber) {
	l := s.open(t)
	// TestContinueAfterErrors nacks 300 times in a row; at the default
	// back-off of 100ms that one test would sleep 30s per run.
	sub, err := sqlite.NewSubscriber(l, sqlite.SubscriberConfig{ConsumerGroup: group, NackBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sqlite.NewPublisher(l), sub
}

func (s *suite) open(t *testing.T) *sqlite.Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	db := s.dbs[t.Name()]
	if db == nil {
		dir, err := os.MkdirTemp(s.root, "db")
		if err != nil {
			t.Fatal(err)
		}
		db = &suiteDB{path: filepath.Join(dir, sqlite.FileName)}
		s.dbs[t.Name()] = db
	}
	if db.log != nil {
		return db.log
	}
	l, err := sqlite.Open(context.Background(), db.path, sqlite.Config{Logger: warnLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	if s.shared {
		db.log = l
	}
	return l
}

// warnLogger shows the background errors a test run provokes.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
