package objectstore_test

import (
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore/objectstoretest"
)

func TestMemoryConformance(t *testing.T) {
	objectstoretest.Run(t, func(t *testing.T) objectstore.Store { return objectstore.NewMemory("test") })
}
