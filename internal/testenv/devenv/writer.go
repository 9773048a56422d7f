package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// runWriter creates a MinIO user with the writer's policy document for one
// cluster (with mc, from the services `up` started: endpoint and root keys
// from the environment env.sh exports) and prints its keys as
// TF_VAR_writer_access_key / TF_VAR_writer_secret_key exports.
func runWriter(args []string) error { return runRole(access.RoleWriter, args) }

// runAuditor creates a MinIO user with the auditor's policy document for
// every cluster below the prefix, and prints its keys as the
// LIFEBOAT_AUDITOR_ACCESS_KEY / LIFEBOAT_AUDITOR_SECRET_KEY exports that
// lifeboat posture report reads the bucket's configuration with.
func runAuditor(args []string) error { return runRole(access.RoleAuditor, args) }

func runRole(role access.Role, args []string) error {
	fs := flag.NewFlagSet(string(role), flag.ContinueOnError)
	dir := fs.String("dir", ".demo/services", "the services' folder (mc keeps its configuration below it)")
	bucket := fs.String("bucket", "lifeboat-demo-repository", "repository bucket")
	prefix := fs.String("prefix", "pg", "repository prefix")
	cluster := fs.String("cluster", "odoo-main", "cluster the writer archives and backs up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m := &testenv.MinIO{Endpoint: os.Getenv("LIFEBOAT_S3_ENDPOINT"), AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"), Dir: filepath.Join(*dir, "minio1")}
	if m.Endpoint == "" || m.AccessKey == "" {
		return fmt.Errorf("%s: source the services' env.sh first (LIFEBOAT_S3_ENDPOINT, AWS_ACCESS_KEY_ID)", role)
	}
	l := repo.Layout{Prefix: *prefix, Cluster: *cluster}
	if role == access.RoleAuditor {
		l.Cluster = "" // every cluster's evidence
	}
	doc, err := access.Policy(role, *bucket, l)
	if err != nil {
		return err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	ak, sk, name := "writer-"+*cluster, hex.EncodeToString(secret), "lifeboat-writer-"+*cluster
	if role == access.RoleAuditor {
		ak, name = "auditor-"+*prefix, "lifeboat-auditor-"+*prefix
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.CreateUser(ctx, ak, sk, name, doc.JSON()); err != nil {
		return err
	}
	if role == access.RoleAuditor {
		fmt.Printf("export LIFEBOAT_AUDITOR_ACCESS_KEY=%q LIFEBOAT_AUDITOR_SECRET_KEY=%q\n", ak, sk)
		return nil
	}
	fmt.Printf("export TF_VAR_writer_access_key=%q TF_VAR_writer_secret_key=%q\n", ak, sk)
	return nil
}
