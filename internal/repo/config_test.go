package repo

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/crypt"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/signature"
)

func writeConfig(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lifeboat.json")
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return path
}

const withSecret = `{"endpoint":"http://127.0.0.1:9000","path_style":true,"access_key":"AK","secret_key":"SUPERSECRET","bucket":"b","cluster":"c1"}`

func TestLoadRefusesReadableFileWithSecret(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		path := writeConfig(t, withSecret, mode)
		_, err := Load(path)
		if !errors.Is(err, ErrInsecureConfig) {
			t.Fatalf("mode %04o: Load error = %v, want ErrInsecureConfig", mode, err)
		}
		msg := err.Error()
		for _, want := range []string{path, fmt.Sprintf("%04o", mode), "chmod 600"} {
			if !strings.Contains(msg, want) {
				t.Errorf("mode %04o: message %q does not mention %q", mode, msg, want)
			}
		}
		if strings.Contains(msg, "SUPERSECRET") {
			t.Errorf("message leaks the secret: %q", msg)
		}
	}
}

func TestLoadAcceptsPrivateFileAndSecretlessReadableFile(t *testing.T) {
	c, err := Load(writeConfig(t, withSecret, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretKey != "SUPERSECRET" || c.Bucket != "b" || c.Cluster != "c1" || !c.PathStyle {
		t.Fatalf("loaded %#v", c)
	}
	// Without a secret the file may be world-readable (credentials then come
	// from the AWS chain).
	if _, err := Load(writeConfig(t, `{"bucket":"b","cluster":"c1"}`, 0o644)); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejectsUnknownFieldsAndBadValues(t *testing.T) {
	for name, body := range map[string]string{
		"typo":        `{"bucket":"b","cluster":"c","secretkey":"x"}`,
		"no bucket":   `{"cluster":"c"}`,
		"bad cluster": `{"bucket":"b","cluster":"a/b"}`,
		"compression": `{"bucket":"b","cluster":"c","compression":"gzip"}`,
		"half creds":  `{"bucket":"b","cluster":"c","access_key":"a"}`,
	} {
		if _, err := Load(writeConfig(t, body, 0o600)); err == nil {
			t.Errorf("%s: Load accepted %s", name, body)
		}
	}
}

func TestMarshalRoundTripsThroughLoad(t *testing.T) {
	in := AgentConfig{Endpoint: "https://s3.example", Region: "eu-west-1", AccessKey: "AK", SecretKey: "SK",
		Bucket: "b", Prefix: "/prod/", Cluster: "odoo",
		Stores: map[string]StoreEntry{"dr": {Endpoint: "https://s3.dr.example", Region: "eu-central-1", AccessKey: "AK2", SecretKey: "SK2"}}}
	body, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Load(writeConfig(t, string(body), 0o600))
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Prefix = "prod"
	want.Compression = "zstd"
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("round trip: got %#v, want %#v", out, want)
	}
	if out.Layout().WALDir() != "prod/odoo/wal/" || out.Layout().ClusterInfoKey() != "prod/odoo/cluster.json" {
		t.Fatalf("layout: %q %q", out.Layout().WALDir(), out.Layout().ClusterInfoKey())
	}
}

func TestPrintingNeverShowsTheSecret(t *testing.T) {
	c := AgentConfig{AccessKey: "AK", SecretKey: "SUPERSECRET", Bucket: "b", Cluster: "c"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "SUPERSECRET") {
			t.Fatalf("printed secret: %s", s)
		}
	}
}

func TestWriteConfigFileIsPrivateAndLoadable(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "etc", "lifeboat.json")
	cfg := AgentConfig{Bucket: "b", Cluster: "c", AccessKey: "AK", SecretKey: "SK"}
	body, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteConfigFile(path, me.Username, body); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if got, err := Load(path); err != nil || got.SecretKey != "SK" {
		t.Fatalf("Load after WriteConfigFile: %+v, %v", got, err)
	}
	if err := WriteConfigFile(path, "no-such-account-lifeboat", body); err == nil {
		t.Fatal("an unknown owner must be refused")
	}
}

// Named stores: the top-level store is "", each named one resolves to its
// own objectstore configuration, an unknown name is refused, a file
// without "stores" reads as before, and a secret under "stores" counts
// like the top-level one (file mode, printing).
func TestNamedStores(t *testing.T) {
	body := `{"endpoint":"http://primary:9000","bucket":"b","cluster":"c1",
  "stores":{"dr":{"endpoint":"http://dr:9000","region":"eu-central-1","path_style":true,"access_key":"AK","secret_key":"DRSECRET"}}}`
	if _, err := Load(writeConfig(t, body, 0o644)); !errors.Is(err, ErrInsecureConfig) {
		t.Fatalf("readable file with a store secret: %v, want ErrInsecureConfig", err)
	}
	c, err := Load(writeConfig(t, body, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	def, err := c.StoreConfig("")
	if err != nil || def.Endpoint != "http://primary:9000" {
		t.Fatalf("default store %+v, %v", def, err)
	}
	dr, err := c.StoreConfig("dr")
	if err != nil || dr.Endpoint != "http://dr:9000" || dr.Region != "eu-central-1" || !dr.PathStyle || dr.SecretKey != "DRSECRET" {
		t.Fatalf("dr store %+v, %v", dr, err)
	}
	if _, err := c.StoreConfig("nope"); !errors.Is(err, ErrUnknownStore) {
		t.Fatalf("unknown store: %v", err)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "DRSECRET") {
			t.Fatalf("printing leaks a store secret: %s", s)
		}
	}
	if c.Stores["dr"].SecretKey != "DRSECRET" {
		t.Fatal("printing redacted the caller's own configuration")
	}
	if _, err := Load(writeConfig(t, `{"bucket":"b","cluster":"c1","stores":{"dr":{"access_key":"AK"}}}`, 0o600)); err == nil {
		t.Fatal("a store with half a key pair accepted")
	}
}

// TestSigningKeyFileMustBeTheAgentsAlone: the agent's evidence signing key
// is read from its file only when no other account can read it.
func TestSigningKeyFileMustBeTheAgentsAlone(t *testing.T) {
	s, err := signature.Generate()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent.key")
	if err := os.WriteFile(path, []byte(s.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := AgentConfig{SigningKeyFile: path}
	var insecure *InsecureConfigError
	if _, err := c.Signer(); !errors.As(err, &insecure) || !strings.Contains(err.Error(), "private signing key") {
		t.Fatalf("key readable by others: %v, want an InsecureConfigError naming the key", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := c.Signer()
	if err != nil || got.Public().ID() != s.Public().ID() {
		t.Fatalf("Signer() = %v, %v", got, err)
	}
	if got, err := (AgentConfig{}).Signer(); got != nil || err != nil {
		t.Fatalf("no key file: %v, %v", got, err)
	}
}

// TestEncryptionRecipientsAreValidatedAndIdentitiesPrivate: a recipient
// that is not an age public key fails the configuration naming it; an
// identity file other accounts can read is refused.
func TestEncryptionRecipientsAreValidatedAndIdentitiesPrivate(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	good := id.Recipient().String()
	p := writeConfig(t, `{"bucket":"b","cluster":"c","encryption":{"recipients":["`+good+`","age1typo"]}}`, 0o600)
	if _, err := Load(p); !errors.Is(err, crypt.ErrInvalidRecipient) || !strings.Contains(err.Error(), "recipient 2") {
		t.Fatalf("bad recipient: %v", err)
	}
	idFile := filepath.Join(t.TempDir(), "id.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = writeConfig(t, `{"bucket":"b","cluster":"c","encryption":{"recipients":["`+good+`"]},"identity_file":"`+idFile+`"}`, 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Recipients(); err != nil || r.Info().Recipients[0] != crypt.Fingerprint(good) {
		t.Fatalf("recipients: %v %v", r, err)
	}
	if _, err := c.Identities(); !errors.Is(err, crypt.ErrInsecureIdentityFile) {
		t.Fatalf("identity file of mode 0644: %v", err)
	}
	if err := os.Chmod(idFile, 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := c.Identities(); err != nil || k.Check("x", c.Encryption.mustInfo(t)) != nil {
		t.Fatalf("identities: %v", err)
	}
}

func (e *Encryption) mustInfo(t *testing.T) *crypt.Info {
	t.Helper()
	r, err := e.Parse()
	if err != nil {
		t.Fatal(err)
	}
	return r.Info()
}

// A Redis password in the agent configuration is a secret like secret_key:
// the file must be private, and printing never shows it.
func TestRedisEntriesHoldSecrets(t *testing.T) {
	body := `{"bucket":"b","cluster":"c1","redis":{"sessions":{"address":"127.0.0.1:6379","username":"lifeboat","password":"REDISSECRET"}}}`
	if _, err := Load(writeConfig(t, body, 0o644)); !errors.Is(err, ErrInsecureConfig) {
		t.Fatalf("readable file with a Redis password: err = %v, want ErrInsecureConfig", err)
	}
	c, err := Load(writeConfig(t, body, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Redis["sessions"]; e.Address != "127.0.0.1:6379" || e.Username != "lifeboat" || e.Password != "REDISSECRET" {
		t.Fatalf("loaded %+v", c.Redis)
	}
	if s := fmt.Sprint(c); strings.Contains(s, "REDISSECRET") {
		t.Fatalf("printed secret: %s", s)
	}
	if c.Redis["sessions"].Password != "REDISSECRET" {
		t.Fatal("Redacted changed the caller's map")
	}
	for _, bad := range []string{
		`{"bucket":"b","cluster":"c1","redis":{"sessions":{}}}`,
		`{"bucket":"b","cluster":"c1","redis":{"a/b":{"address":"x:1"}}}`,
	} {
		if _, err := Load(writeConfig(t, bad, 0o600)); err == nil {
			t.Errorf("Load(%s) accepted", bad)
		}
	}
}

// TestBackupRecipientsPreferTheSignedPolicy: the policy's recipients win
// over the agent configuration's; without them, the configuration's.
func TestBackupRecipientsPreferTheSignedPolicy(t *testing.T) {
	newRecipient := func() string {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		return id.Recipient().String()
	}
	cfgRec, polRec := newRecipient(), newRecipient()
	c := AgentConfig{Bucket: "b", Cluster: "c", Encryption: &Encryption{Recipients: []string{cfgRec}}}
	for _, tc := range []struct {
		name string
		p    *Policy
		want string
	}{
		{"no policy", nil, cfgRec},
		{"policy without encryption", &Policy{}, cfgRec},
		{"policy with encryption", &Policy{Encryption: &Encryption{Recipients: []string{polRec}}}, polRec},
	} {
		r, err := BackupRecipients(c, tc.p)
		if err != nil || r.Info().Recipients[0] != crypt.Fingerprint(tc.want) {
			t.Fatalf("%s: %v %v", tc.name, r.Info(), err)
		}
	}
	if _, err := BackupRecipients(c, &Policy{Encryption: &Encryption{Recipients: []string{"age1bad"}}}); !errors.Is(err, crypt.ErrInvalidRecipient) {
		t.Fatalf("bad policy recipient: %v", err)
	}
	if r, err := BackupRecipients(AgentConfig{}, nil); r != nil || err != nil {
		t.Fatalf("nothing declared: %v %v", r, err)
	}
}

// TestRestorerIsASecretOfTheBootstrapFile: the restorer's keys make the
// file a secret one, are never printed, and RestorerConfig swaps them in
// for the agent's own (with nothing of the writer's left).
func TestRestorerIsASecretOfTheBootstrapFile(t *testing.T) {
	body := `{"bucket":"b","cluster":"c1","access_key":"WRITER","secret_key":"WSECRET","signing_key_file":"/k","restorer":{"access_key":"RESTORER","secret_key":"RSECRET"}}`
	if _, err := Load(writeConfig(t, `{"bucket":"b","cluster":"c1","restorer":{"access_key":"RESTORER","secret_key":"RSECRET"}}`, 0o644)); !errors.Is(err, ErrInsecureConfig) {
		t.Fatalf("readable file with the restorer's secret: err = %v, want ErrInsecureConfig", err)
	}
	c, err := Load(writeConfig(t, body, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(c); strings.Contains(s, "RSECRET") || strings.Contains(s, "WSECRET") {
		t.Fatalf("printed secret: %s", s)
	}
	rc, ok := c.RestorerConfig()
	if !ok || rc.AccessKey != "RESTORER" || rc.SecretKey != "RSECRET" || rc.Restorer != nil || rc.SigningKeyFile != "" || rc.Bucket != "b" {
		t.Fatalf("RestorerConfig = %+v, %v", rc.Redacted(), ok)
	}
	if _, ok := (AgentConfig{Bucket: "b", Cluster: "c"}).RestorerConfig(); ok {
		t.Fatal("RestorerConfig without a restorer")
	}
	for _, bad := range []string{
		`{"bucket":"b","cluster":"c1","restorer":{}}`,
		`{"bucket":"b","cluster":"c1","restorer":{"access_key":"R"}}`,
		`{"bucket":"b","cluster":"c1","restorer":{"access_key":"R","secret_key":"S","profile":"p"}}`,
	} {
		if _, err := Load(writeConfig(t, bad, 0o600)); err == nil {
			t.Errorf("Load(%s) accepted", bad)
		}
	}
}
