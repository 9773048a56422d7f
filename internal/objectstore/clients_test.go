package objectstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore/objectstoretest"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// Clients makes one client per distinct configuration, once, even when
// many callers ask at the same time; another region or other credentials
// get their own.
func TestClientsOnePerConfig(t *testing.T) {
	var clients objectstore.Clients
	ctx := context.Background()
	a := objectstore.Config{Endpoint: "http://127.0.0.1:1", Region: "eu-west-1", AccessKey: "a", SecretKey: "a-secret", PathStyle: true}
	b := a
	b.Region = "eu-central-1"
	c := a
	c.AccessKey, c.SecretKey = "role-writer", "writer-secret"

	var wg sync.WaitGroup
	got := make([]*objectstore.Client, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := clients.Get(ctx, a)
			if err != nil {
				t.Error(err)
			}
			got[i] = cl
		}()
	}
	wg.Wait()
	for _, cl := range got[1:] {
		if cl != got[0] {
			t.Fatal("two clients for one configuration")
		}
	}
	cb, _ := clients.Get(ctx, b)
	cc, _ := clients.Get(ctx, c)
	if cb == got[0] || cc == got[0] || cb == cc {
		t.Fatal("a region or credentials of their own share another store's client")
	}
	if n := clients.Len(); n != 3 {
		t.Fatalf("%d clients for 3 configurations", n)
	}
	// A configuration NewClient refuses is refused to every caller.
	bad := objectstore.Config{Endpoint: "http://127.0.0.1:1", AccessKey: "only-half"}
	if _, err := clients.Get(ctx, bad); err == nil {
		t.Fatal("half a key pair accepted")
	}
	if _, err := clients.Get(ctx, bad); err == nil {
		t.Fatal("half a key pair accepted the second time")
	}
}

// A client the registry makes for a second configuration of the same
// store (another region name, as a recovery region's client would have)
// passes the storage contract like the first.
func TestClientsSecondConfigConformance(t *testing.T) {
	env := testenv.Require(t)
	var clients objectstore.Clients
	c, err := clients.Get(context.Background(), objectstore.Config{
		Endpoint: env.MinIO[0].Endpoint, Region: "eu-west-1", AccessKey: env.MinIO[0].AccessKey, SecretKey: env.MinIO[0].SecretKey, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	objectstoretest.Run(t, func(t *testing.T) objectstore.Store {
		return c.Store(newBucket(t, c, "conf2"))
	})
}
