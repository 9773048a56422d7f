package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
)

func TestEnsureClusterRecordsThenRefusesForeignCluster(t *testing.T) {
	ctx := context.Background()
	store := objectstore.NewMemory("b")
	layout := Layout{Prefix: "p", Cluster: "c"}
	const mine, theirs = uint64(7300000000000000001), uint64(7300000000000000002)
	if _, err := EnsureCluster(ctx, store, layout, mine); err != nil {
		t.Fatal(err)
	}
	info, err := ReadCluster(ctx, store, layout)
	if err != nil || info.SystemIdentifier != "7300000000000000001" {
		t.Fatalf("recorded %+v, %v", info, err)
	}
	if _, err := EnsureCluster(ctx, store, layout, mine); err != nil {
		t.Fatalf("same cluster again: %v", err)
	}
	_, err = EnsureCluster(ctx, store, layout, theirs)
	var fe *ForeignClusterError
	if !errors.Is(err, ErrForeignCluster) || !errors.As(err, &fe) || fe.Repository != mine || fe.Local != theirs {
		t.Fatalf("foreign cluster: err = %v", err)
	}
	// Another name in the same bucket is another repository.
	if _, err := EnsureCluster(ctx, store, Layout{Prefix: "p", Cluster: "other"}, theirs); err != nil {
		t.Fatal(err)
	}
}
