package repo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

// TestWriteSigned: a document WriteSigned stores with a signer reads back
// through ReadTrusted with that key trusted; one it stores unsigned, or a
// signed one whose bytes are rewritten, is refused with a
// *signature.Error; its conditions apply (IfAbsent: the second write
// fails, naming the document).
func TestWriteSigned(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	signer, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signature.NewTrust(signer.Public().String())
	if err != nil {
		t.Fatal(err)
	}
	type doc struct {
		Name string    `json:"name"`
		At   time.Time `json:"at"`
	}
	want := doc{Name: "nightly", At: time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)}
	if err := WriteSigned(ctx, store, "pg/main/x.json", "document x", want, signer, objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTrusted[doc](ctx, store, "pg/main/x.json", "document x", trust)
	if err != nil || *got != want {
		t.Fatalf("read back %+v, %v; want %+v", got, err, want)
	}
	var se *signature.Error
	if err := WriteSigned(ctx, store, "pg/main/y.json", "document y", want, nil, objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTrusted[doc](ctx, store, "pg/main/y.json", "document y", trust); !errors.As(err, &se) {
		t.Fatalf("unsigned document read with a trusted key: %v, want a signature error", err)
	}
	// The signature covers the key: the same bytes and metadata copied to
	// another key do not verify.
	_, body, meta, err := ReadDoc[doc](ctx, store, "pg/main/x.json", "document x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, "pg/main/z.json", bytes.NewReader(body), objectstore.PutOptions{Size: int64(len(body)), Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTrusted[doc](ctx, store, "pg/main/z.json", "document z", trust); !errors.As(err, &se) {
		t.Fatalf("signed document moved to another key: %v, want a signature error", err)
	}
	err = WriteSigned(ctx, store, "pg/main/x.json", "document x", want, signer, objectstore.PutOptions{IfAbsent: true})
	if !errors.Is(err, objectstore.ErrExists) || err.Error()[:len("writing document x")] != "writing document x" {
		t.Fatalf("conditional write over an existing document: %v, want ErrExists naming it", err)
	}
}

// TestWritePolicyKeepsCreated: a policy written again keeps the creation
// time of the stored one (a schedule's first slot follows it), whatever the
// caller sets; a new policy takes the caller's time, or now. A stored
// policy that cannot be read stops the write.
func TestWritePolicyKeepsCreated(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	l := Layout{Prefix: "pg", Cluster: "main"}
	created := func() time.Time {
		t.Helper()
		p, err := ReadPolicy(ctx, store, l, signature.Trust{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Created
	}
	before := time.Now().UTC()
	if err := WritePolicy(ctx, store, l, Policy{Cluster: "main", Schedule: "@daily"}, nil); err != nil {
		t.Fatal(err)
	}
	first := created()
	if first.Before(before.Truncate(time.Second)) || first.After(time.Now()) {
		t.Fatalf("new policy created %s, want now (%s)", first, before)
	}
	if err := WritePolicy(ctx, store, l, Policy{Cluster: "main", Schedule: "@hourly", Created: first.AddDate(-1, 0, 0)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := created(); !got.Equal(first) {
		t.Fatalf("rewritten policy created %s, want the stored %s", got, first)
	}

	other := Layout{Prefix: "pg", Cluster: "other"}
	given := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := WritePolicy(ctx, store, other, Policy{Cluster: "other", Schedule: "@daily", Created: given}, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := ReadPolicy(ctx, store, other, signature.Trust{}); err != nil || !p.Created.Equal(given) {
		t.Fatalf("new policy with a time: %+v, %v; want created %s", p, err, given)
	}

	garbled := Layout{Prefix: "pg", Cluster: "garbled"}
	if _, err := store.Put(ctx, garbled.PolicyKey(), bytes.NewReader([]byte("{")), objectstore.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	err := WritePolicy(ctx, store, garbled, Policy{Cluster: "garbled", Schedule: "@daily"}, nil)
	if err == nil || !strings.Contains(err.Error(), "reading policy") {
		t.Fatalf("write over an unreadable policy: %v, want the read's error", err)
	}
}
