package store

import (
	"context"
	"database/sql"
	"fmt"
)

// writeSQLs lists the statements of the write path (the projector, rule
// state, the job queue), each prepared once on the writer connection when
// the store opens. The SQLite driver parses and plans a statement every
// time database/sql runs one unprepared: in the job queue that took a third
// of hookd's CPU.
var writeSQLs []string

// writeSQL registers query to be prepared when the store opens and returns
// it. Call it from package-level variable declarations only.
func writeSQL(query string) string {
	writeSQLs = append(writeSQLs, query)
	return query
}

// prepare prepares every writeSQL query on the writer w.
func prepare(ctx context.Context, w *sql.DB) (map[string]*sql.Stmt, error) {
	stmts := make(map[string]*sql.Stmt, len(writeSQLs))
	for _, q := range writeSQLs {
		if _, ok := stmts[q]; ok {
			continue
		}
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			for _, st := range stmts {
				st.Close()
			}
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		stmts[q] = st
	}
	return stmts, nil
}

// stmt returns query as a statement of tx, the writer's transaction: the
// statement prepared when the store opened, or for a query not registered
// with writeSQL one prepared now, for tx only. It is closed with tx.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts[query]; ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, query)
}
