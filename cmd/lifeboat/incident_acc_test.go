package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/restore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// TestAccIncidentFind: rows of a table deleted in one transaction and
// updated in another; `incident find` reads the archived WAL and names
// both transactions with their row counts (and not the one that changed
// another table); `restore --xid X --exclusive` brings the deleted rows
// back in a copy restored to just before X.
func TestAccIncidentFind(t *testing.T) {
	env := testenv.Require(t)
	f := setupAgentRepo(t, env, "incident-acc")
	pg := env.Postgres
	ctx := context.Background()
	psql(t, pg, "DROP TABLE IF EXISTS picking_inc, other_inc; CREATE TABLE picking_inc (id int PRIMARY KEY, state text); CREATE TABLE other_inc (id int)")
	f.run(t, 0, "backup")
	f.archiveWAL(t)
	psql(t, pg, "INSERT INTO picking_inc SELECT g, 'done' FROM generate_series(1, 30) g")
	inTx := func(sql string) uint32 {
		t.Helper()
		conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var xid int64
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return uint32(xid)
	}
	upd := inTx("UPDATE picking_inc SET state = 'cancel' WHERE id <= 2")
	other := inTx("INSERT INTO other_inc SELECT generate_series(1, 5)")
	del := inTx("DELETE FROM picking_inc WHERE id > 23") // the accident: 7 rows
	f.archiveWAL(t)

	var found struct {
		Table        string `json:"table"`
		Transactions []struct {
			XID       uint32 `json:"xid"`
			Committed bool   `json:"committed"`
			Deleted   int    `json:"deleted"`
			Updated   int    `json:"updated"`
			Inserted  int    `json:"inserted"`
			CommitLSN string `json:"commit_lsn"`
		} `json:"transactions"`
	}
	out := f.run(t, 0, "incident", "find", "--table", "picking_inc", "--json", "--bin-dir", pg.BinDir)
	if err := json.Unmarshal([]byte(out), &found); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	byXID := map[uint32]int{}
	for i, x := range found.Transactions {
		byXID[x.XID] = i
		if x.XID == other {
			t.Fatalf("transaction %d changed other_inc only, listed: %s", other, out)
		}
	}
	i, ok := byXID[del]
	if !ok || found.Transactions[i].Deleted != 7 || found.Transactions[i].Updated != 0 || !found.Transactions[i].Committed {
		t.Fatalf("the delete (xid %d, 7 rows) not named right:\n%s", del, out)
	}
	if j, ok := byXID[upd]; !ok || found.Transactions[j].Updated != 2 || found.Transactions[j].Deleted != 0 {
		t.Fatalf("the update (xid %d, 2 rows) not named right:\n%s", upd, out)
	}
	text := f.run(t, 0, "incident", "find", "--table", "public.picking_inc", "--bin-dir", pg.BinDir)
	t.Log(text)
	if !strings.Contains(text, fmt.Sprintf("lifeboat restore --xid %d --exclusive", del)) {
		t.Fatalf("incident find does not say how to restore before the delete:\n%s", text)
	}
	if out, code := f.exec(t, "incident", "find", "--table", "no_such_table", "--bin-dir", pg.BinDir); code == 0 || !strings.Contains(out, "no such table") {
		t.Fatalf("unknown table: exit %d: %s", code, out)
	}

	// Just before the delete: the 30 rows, the update applied.
	port, _ := testenv.FreePort()
	dataDir := filepath.Join(filepath.Dir(f.bin), "before-delete")
	out = f.run(t, 0, "restore", "--xid", strconv.FormatUint(uint64(del), 10), "--exclusive", "--data-dir", dataDir, "--port", strconv.Itoa(port),
		"--keep-running", "--bin-dir", pg.BinDir, "--os-user", pg.OSUser)
	t.Log(out)
	t.Cleanup(func() { _ = restore.RemoveCluster(context.Background(), dataDir, pg.BinDir, pg.OSUser) })
	if !strings.Contains(out, fmt.Sprintf("plan: to xid %d (exclusive) at ", del)) || !strings.Contains(out, fmt.Sprintf("(commit of xid %d at ", del)) {
		t.Fatalf("restore plan does not name the transaction:\n%s", out)
	}
	got, err := exec.Command(filepath.Join(pg.BinDir, "psql"), "-h", restore.SocketDir(dataDir), "-p", strconv.Itoa(port), "-U", "postgres", "-XAtc",
		"SELECT count(*) || '/' || count(*) FILTER (WHERE state = 'cancel') FROM picking_inc").CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "30/2" {
		t.Fatalf("copy restored to just before xid %d: %s %v, want 30 rows, 2 cancelled", del, got, err)
	}
}
