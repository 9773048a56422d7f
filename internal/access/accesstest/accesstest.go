// Package accesstest gives tests the keys an operator hands out: MinIO
// users made from the access roles' documents. It is not in testenv, whose
// users internal/access's own tests are.
package accesstest

import (
	"testing"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/access"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/testenv"
)

// User creates the MinIO user name on m whose only policy is role's
// document for the repository l in bucket, plus the extra statements, and
// returns its keys (testenv.MinIO.User).
func User(t testing.TB, m *testenv.MinIO, name string, role access.Role, bucket string, l repo.Layout, extra ...access.Statement) (accessKey, secretKey string) {
	t.Helper()
	doc, err := access.Policy(role, bucket, l)
	if err != nil {
		t.Fatal(err)
	}
	doc.Statement = append(doc.Statement, extra...)
	return m.User(t, name, doc.JSON())
}

// Client is User's client: the role's keys at work.
func Client(t testing.TB, m *testenv.MinIO, name string, role access.Role, bucket string, l repo.Layout, extra ...access.Statement) *objectstore.Client {
	t.Helper()
	ak, sk := User(t, m, name, role, bucket, l, extra...)
	return m.Client(t, ak, sk)
}
