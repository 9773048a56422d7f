package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/pg"
)

// runSeed creates Odoo-like tenant databases (partners, pickings and
// ir_attachment rows whose files live in a versioned filestore bucket), and
// runIncident makes the mistake the demo then restores from. Both read the
// endpoints from the environment `devenv up` wrote (env.sh).
func runSeed(args []string, incident bool) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	tenants := fs.String("tenants", "acme_logistics,globex_freight,initech_cargo", "tenant databases")
	bucket := fs.String("bucket", "lifeboat-demo-filestore", "attachments (filestore) bucket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dsn := os.Getenv("LIFEBOAT_PG_DSN")
	if dsn == "" {
		return fmt.Errorf("LIFEBOAT_PG_DSN is not set: source the env.sh that `devenv up` wrote")
	}
	client, err := objectstore.NewClient(ctx, objectstore.Config{})
	if err != nil {
		return err
	}
	store := client.Store(*bucket)
	names := strings.Split(*tenants, ",")
	if incident {
		return makeIncident(ctx, dsn, store, names[0])
	}
	if err := client.CreateBucket(ctx, objectstore.BucketSpec{Name: *bucket}); err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	for i, db := range names {
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()); err != nil {
			return err
		}
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return err
		}
		conn, err := pgx.Connect(ctx, pg.WithDatabase(dsn, db))
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `
CREATE TABLE res_partner (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE stock_picking (id serial PRIMARY KEY, name text NOT NULL, partner_id int REFERENCES res_partner, state text, create_date timestamptz DEFAULT now());
CREATE TABLE ir_attachment (id serial PRIMARY KEY, name text, res_model text, res_id int, store_fname text, checksum text, file_size int, create_date timestamptz DEFAULT now());
INSERT INTO res_partner (name) SELECT 'customer ' || g FROM generate_series(1, 40) g;
INSERT INTO stock_picking (name, partner_id, state) SELECT 'WH/OUT/' || lpad(g::text, 5, '0'), 1 + g % 40, 'done' FROM generate_series(1, 500) g;`)
		if err != nil {
			conn.Close(ctx)
			return err
		}
		for a := 1; a <= 12; a++ {
			body := fmt.Sprintf("%s delivery note %d for picking WH/OUT/%05d\n", db, a, a)
			if err := addAttachment(ctx, conn, store, db, a, body); err != nil {
				conn.Close(ctx)
				return err
			}
		}
		conn.Close(ctx)
		fmt.Printf("tenant %-16s 40 partners, 500 pickings, 12 attachments in s3://%s/filestore/%s/ (%d/%d)\n", db, *bucket, db, i+1, len(names))
	}
	return nil
}

func addAttachment(ctx context.Context, conn *pgx.Conn, store objectstore.Store, db string, n int, body string) error {
	sum := sha1.Sum([]byte(body))
	h := hex.EncodeToString(sum[:])
	fname := h[:2] + "/" + h
	if _, err := store.Put(ctx, "filestore/"+db+"/"+fname, strings.NewReader(body), objectstore.PutOptions{Size: int64(len(body))}); err != nil {
		return err
	}
	_, err := conn.Exec(ctx, `INSERT INTO ir_attachment (name, res_model, res_id, store_fname, checksum, file_size) VALUES ($1, 'stock.picking', $2, $3, $4, $5)`,
		fmt.Sprintf("delivery-note-%d.txt", n), n, fname, h, len(body))
	return err
}

// makeIncident deletes a day's pickings and an attachment's file, and adds
// a new attachment, in the first tenant: what a restore to before it undoes.
func makeIncident(ctx context.Context, dsn string, store objectstore.Store, db string) error {
	conn, err := pgx.Connect(ctx, pg.WithDatabase(dsn, db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var fname string
	if err := conn.QueryRow(ctx, "SELECT store_fname FROM ir_attachment ORDER BY id LIMIT 1").Scan(&fname); err != nil {
		return err
	}
	if err := store.Delete(ctx, "filestore/"+db+"/"+fname); err != nil {
		return err
	}
	tag, err := conn.Exec(ctx, "DELETE FROM stock_picking WHERE id <= 200")
	if err != nil {
		return err
	}
	if err := addAttachment(ctx, conn, store, db, 99, db+" uploaded after the incident\n"); err != nil {
		return err
	}
	fmt.Printf("incident in %s: %d pickings deleted, attachment file %s deleted, one attachment added\n", db, tag.RowsAffected(), fname)
	return nil
}
