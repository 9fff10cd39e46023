package sqlite

// InsertRows is insertRows, for tests that span several INSERT statements.
const InsertRows = insertRows
