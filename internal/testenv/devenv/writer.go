package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
func runWriter(args []string) error {
	fs := flag.NewFlagSet("writer", flag.ContinueOnError)
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
		return errors.New("writer: source the services' env.sh first (LIFEBOAT_S3_ENDPOINT, AWS_ACCESS_KEY_ID)")
	}
	doc, err := access.Policy(access.RoleWriter, *bucket, repo.Layout{Prefix: *prefix, Cluster: *cluster})
	if err != nil {
		return err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	ak, sk := "writer-"+*cluster, hex.EncodeToString(secret)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.CreateUser(ctx, ak, sk, "lifeboat-writer-"+*cluster, doc.JSON()); err != nil {
		return err
	}
	fmt.Printf("export TF_VAR_writer_access_key=%q TF_VAR_writer_secret_key=%q\n", ak, sk)
	return nil
}
