package objectstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore/objectstoretest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Spec{MinIO: 1}))
}

func newMinIOClient(t *testing.T) *objectstore.Client {
	t.Helper()
	env := testenv.Require(t)
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{
		Endpoint: env.MinIO[0].Endpoint, AccessKey: env.MinIO[0].AccessKey, SecretKey: env.MinIO[0].SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randomBucket(prefix string) string {
	return fmt.Sprintf("%s-%08x", prefix, rand.Uint32())
}

func TestS3Conformance(t *testing.T) {
	c := newMinIOClient(t)
	objectstoretest.Run(t, func(t *testing.T) objectstore.Store {
		name := randomBucket("conf")
		if err := c.CreateBucket(context.Background(), objectstore.BucketSpec{Name: name}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Versions locked by the suite stay until their retention ends;
			// MinIO's data folder is removed with the environment anyway.
			_ = c.DestroyBucket(context.Background(), name, true)
		})
		return c.Store(name)
	})
}

func TestS3ClassifiesBadCredentials(t *testing.T) {
	env := testenv.Require(t)
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{
		Endpoint: env.MinIO[0].Endpoint, AccessKey: "wrong", SecretKey: "wrong-secret", PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadBucket(context.Background(), "anything")
	if !errors.Is(err, objectstore.ErrAccessDenied) {
		t.Fatalf("want ErrAccessDenied, got %v", err)
	}
	if !strings.Contains(err.Error(), env.MinIO[0].Endpoint) {
		t.Fatalf("error does not name the endpoint: %v", err)
	}
}

func TestS3ClassifiesUnreachableEndpoint(t *testing.T) {
	testenv.Require(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	c, err := objectstore.NewClient(context.Background(), objectstore.Config{Endpoint: endpoint, AccessKey: "a", SecretKey: "b", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ReadBucket(context.Background(), "anything")
	if !errors.Is(err, objectstore.ErrUnreachable) || !strings.Contains(err.Error(), endpoint) {
		t.Fatalf("want ErrUnreachable naming %s, got %v", endpoint, err)
	}
}
