package objectstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Object-lock retention modes.
const (
	ModeGovernance = "GOVERNANCE"
	ModeCompliance = "COMPLIANCE"
)

// Server-side encryption algorithms.
const (
	SSEAES256 = "AES256"
	SSEKMS    = "aws:kms"
)

// BucketSpec is the whole declared (or observed) posture of an immutable
// bucket. Versioning is not in it: object lock requires it, so it is always on.
type BucketSpec struct {
	Name       string
	Retention  *Retention // nil: no default retention
	Encryption *Encryption
	Lifecycle  []LifecycleTier // sorted by Name
	Tags       map[string]string
}

// Retention is a bucket's default object-lock retention.
type Retention struct {
	Mode string // ModeGovernance or ModeCompliance
	Days int32
}

// Encryption is a bucket's default server-side encryption.
type Encryption struct {
	Algorithm string // SSEAES256 or SSEKMS
	KMSKeyID  string
}

// LifecycleTier is one data class's lifecycle rule, keyed by Name.
type LifecycleTier struct {
	Name                            string
	Prefix                          string
	ExpirationDays                  int32 // 0: never
	NoncurrentVersionExpirationDays int32 // 0: never
	// ExpiredObjectDeleteMarker removes a delete marker once no version is
	// left behind it. S3 takes it only in a rule without ExpirationDays.
	ExpiredObjectDeleteMarker bool
	TransitionDays            int32 // 0: no transition
	TransitionStorageClass    string
}

// BucketState is what ReadBucket observes beyond the spec.
type BucketState struct {
	Spec BucketSpec
	// Versioning is the raw versioning status ("Enabled", "Suspended", "").
	Versioning string
	// ObjectLockEnabled is false for a bucket created without object lock.
	ObjectLockEnabled bool
	// PublicAccessBlocked is nil when the store has no public access block
	// API, or the caller may not read it.
	PublicAccessBlocked *bool
}

// CreateBucket creates spec.Name with object lock (and so versioning) enabled,
// then applies the rest of the spec. A bucket that already exists and is owned
// by the caller is adopted only if it has object lock; otherwise it is an error.
func (c *Client) CreateBucket(ctx context.Context, spec BucketSpec) error {
	_, err := c.s3.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                     aws.String(spec.Name),
		ObjectLockEnabledForBucket: aws.Bool(true),
	})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "BucketAlreadyOwnedByYou") {
			st, rerr := c.ReadBucket(ctx, spec.Name)
			if rerr != nil {
				return rerr
			}
			if !st.ObjectLockEnabled {
				return fmt.Errorf("bucket %q already exists without object lock; object lock can only be enabled at creation: choose another name", spec.Name)
			}
		} else {
			return c.classify("create bucket "+spec.Name, err)
		}
	}
	if err := c.blockPublicAccess(ctx, spec.Name); err != nil {
		return err
	}
	// NOTE: versioning is implied by object lock; UpdateBucket enables it
	// explicitly anyway, so a store that does not imply it ends up versioned.
	return c.UpdateBucket(ctx, BucketSpec{Name: spec.Name}, spec)
}

// EnableVersioning turns versioning on (again).
func (c *Client) EnableVersioning(ctx context.Context, bucket string) error {
	_, err := c.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	return c.classify("enable versioning on "+bucket, err)
}

func (c *Client) blockPublicAccess(ctx context.Context, bucket string) error {
	_, err := c.s3.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: aws.String(bucket),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
			IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
		},
	})
	if notImplemented(err) || isCode(err, "MalformedXML") {
		// NOTE: MinIO has no public access block API (it answers NotImplemented
		// or, for PUT, MalformedXML); its buckets are private unless a bucket
		// policy says otherwise, which is what the block enforces on AWS.
		return nil
	}
	return c.classify("block public access on "+bucket, err)
}

// UpdateBucket converges the bucket from old to want, touching only what
// differs. Versioning is re-enabled unconditionally: it must always be on.
func (c *Client) UpdateBucket(ctx context.Context, old, want BucketSpec) error {
	bucket := aws.String(want.Name)
	if err := c.EnableVersioning(ctx, want.Name); err != nil {
		return err
	}
	if old.Retention == nil || want.Retention == nil || *old.Retention != *want.Retention {
		cfg := &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}
		if want.Retention != nil {
			cfg.Rule = &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{
				Mode: types.ObjectLockRetentionMode(want.Retention.Mode),
				Days: aws.Int32(want.Retention.Days),
			}}
		}
		_, err := c.s3.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: bucket, ObjectLockConfiguration: cfg})
		if err != nil {
			return c.classify("set object lock retention on "+want.Name, err)
		}
	}
	if !encryptionEqual(old.Encryption, want.Encryption) {
		if want.Encryption == nil {
			_, err := c.s3.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: bucket})
			if err != nil {
				return c.classify("remove encryption on "+want.Name, err)
			}
		} else {
			rule := types.ServerSideEncryptionRule{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{
				SSEAlgorithm: types.ServerSideEncryption(want.Encryption.Algorithm),
			}}
			if want.Encryption.KMSKeyID != "" {
				rule.ApplyServerSideEncryptionByDefault.KMSMasterKeyID = aws.String(want.Encryption.KMSKeyID)
			}
			_, err := c.s3.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{
				Bucket:                            bucket,
				ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{rule}},
			})
			if err != nil {
				return c.classify("set encryption on "+want.Name, err)
			}
		}
	}
	if !lifecycleEqual(old.Lifecycle, want.Lifecycle) {
		if err := c.putLifecycle(ctx, want.Name, want.Lifecycle); err != nil {
			return err
		}
	}
	if !tagsEqual(old.Tags, want.Tags) {
		var err error
		if len(want.Tags) == 0 {
			_, err = c.s3.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: bucket})
		} else {
			var tags []types.Tag
			for _, k := range sortedKeys(want.Tags) {
				tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(want.Tags[k])})
			}
			_, err = c.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: bucket, Tagging: &types.Tagging{TagSet: tags}})
		}
		if err != nil {
			return c.classify("set tags on "+want.Name, err)
		}
	}
	return nil
}

// PolicyRulePrefix starts the ID of every lifecycle rule a backup policy
// owns (lifeboat_backup_policy tiers). The bucket's own tiers leave them be,
// and each policy touches only its own, so the two never undo each other.
const PolicyRulePrefix = "lifeboat-policy"

// ErrLifecycleContended means the bucket's lifecycle configuration kept
// changing under a write (other writers): the rules written did not stay.
var ErrLifecycleContended = errors.New("lifecycle configuration changed concurrently")

// maxRuleID is S3's limit on a lifecycle rule ID.
const maxRuleID = 255

// policyRuleBase starts the ID of every rule of the policy of the
// repository whose root is owner: "lifeboat-policy/<owner>:". The owner is
// exact, prefix and cluster: cluster "main" does not own the rules of
// "main-eu", nor "pg/main" those of "eu/main". An owner too long for the
// ID limit is named by its hash.
func policyRuleBase(owner string) string {
	base := PolicyRulePrefix + "/" + owner + ":"
	if len(base)+32 > maxRuleID {
		sum := sha256.Sum256([]byte(owner))
		base = PolicyRulePrefix + "/#" + hex.EncodeToString(sum[:16]) + ":"
	}
	return base
}

const tierNameChars = "abcdefghijklmnopqrstuvwxyz0123456789-._"

// validTierName is what a policy rule name may hold: no '/' or ':', so a
// rule of owner "pg" can never be read as one of owner "pg/main".
func validTierName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, r := range name {
		if !strings.ContainsRune(tierNameChars, r) {
			return false
		}
	}
	return true
}

// policyRuleName returns the tier name of rule id when owner's policy owns
// it.
func policyRuleName(id, owner string) (string, bool) {
	name, ok := strings.CutPrefix(id, policyRuleBase(owner))
	return name, ok && validTierName(name)
}

// legacyPolicyRule reports whether id is a rule an older release wrote for
// owner's cluster ("lifeboat-policy-<cluster>-<class>"): those are replaced
// by the exact IDs on the next write. NOTE: exact too, the class has no '-',
// so "main" never takes "lifeboat-policy-main-eu-transactional".
func legacyPolicyRule(id, owner string) bool {
	cluster := path.Base(owner)
	class, ok := strings.CutPrefix(id, PolicyRulePrefix+"-"+cluster+"-")
	return ok && class != "" && !strings.ContainsAny(class, "-/:")
}

func isPolicyRule(id string) bool { return strings.HasPrefix(id, PolicyRulePrefix) }

// putLifecycle replaces the bucket's own tiers, keeping policy-owned rules.
func (c *Client) putLifecycle(ctx context.Context, bucket string, tiers []LifecycleTier) error {
	want := make([]types.LifecycleRule, 0, len(tiers))
	for _, t := range tiers {
		want = append(want, ruleFromTier(t.Name, t))
	}
	return c.editLifecycle(ctx, bucket, func(id string) bool { return !isPolicyRule(id) }, want)
}

// SetPolicyTiers replaces the lifecycle rules owned by the policy of the
// repository whose root is owner ("<prefix>/<cluster>") with tiers, leaving
// every other rule (the bucket's own tiers, other policies'). Tier names
// are lower-case letters, digits, '-', '.' and '_'.
func (c *Client) SetPolicyTiers(ctx context.Context, bucket, owner string, tiers []LifecycleTier) error {
	base := policyRuleBase(owner)
	want := make([]types.LifecycleRule, 0, len(tiers))
	for _, t := range tiers {
		if !validTierName(t.Name) {
			return fmt.Errorf("policy tier name %q: want 1-32 of a-z, 0-9, '-', '.', '_'", t.Name)
		}
		want = append(want, ruleFromTier(base+t.Name, t))
	}
	owned := func(id string) bool {
		_, ok := policyRuleName(id, owner)
		return ok || legacyPolicyRule(id, owner)
	}
	return c.editLifecycle(ctx, bucket, owned, want)
}

// PolicyTiers reads the lifecycle rules owned by the policy of the
// repository whose root is owner, names without the ID prefix, sorted by
// name.
func (c *Client) PolicyTiers(ctx context.Context, bucket, owner string) ([]LifecycleTier, error) {
	rules, err := c.rules(ctx, bucket)
	if err != nil {
		return nil, err
	}
	var out []LifecycleTier
	for _, r := range rules {
		if name, ok := policyRuleName(aws.ToString(r.ID), owner); ok && r.Status == types.ExpirationStatusEnabled {
			t := tierFromRule(r)
			t.Name = name
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PolicyOwners lists the repository roots whose policies own lifecycle
// rules in bucket (an owner too long for a rule ID, named by its hash, is
// not listed).
func (c *Client) PolicyOwners(ctx context.Context, bucket string) ([]string, error) {
	rules, err := c.rules(ctx, bucket)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range rules {
		rest, ok := strings.CutPrefix(aws.ToString(r.ID), PolicyRulePrefix+"/")
		i := strings.LastIndexByte(rest, ':')
		if !ok || i <= 0 || strings.HasPrefix(rest, "#") || !validTierName(rest[i+1:]) || seen[rest[:i]] {
			continue
		}
		seen[rest[:i]] = true
		out = append(out, rest[:i])
	}
	sort.Strings(out)
	return out, nil
}

// rules reads the raw lifecycle rules; none is an empty list.
func (c *Client) rules(ctx context.Context, bucket string) ([]types.LifecycleRule, error) {
	lc, err := c.s3.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
	if isCode(err, "NoSuchLifecycleConfiguration") {
		return nil, nil
	}
	if err != nil {
		return nil, c.classify("read lifecycle of "+bucket, err)
	}
	return lc.Rules, nil
}

// lifecycleLocks serialises the lifecycle edits of this process, per
// endpoint and bucket: every client of the process shares them.
var lifecycleLocks sync.Map

// lifecycleSettle is how long editLifecycle waits after a write before it
// reads the configuration back; a var so tests can shorten it.
var lifecycleSettle = 400 * time.Millisecond

const lifecycleAttempts = 12

// editLifecycle makes the rules owned (by ID) exactly want, and writes every
// other rule back untouched.
//
// Safety rule: the lifecycle configuration is one document per bucket,
// read, edited and written whole, so two writers that overlap drop each
// other's rules. Within this process the edits of one bucket are
// serialised; across processes (two terraform runs, the provider and the
// Pulumi provider) each write is read back after a pause, and written
// again, merged with whatever is there now, until the rules written stay.
// A writer whose read is older than the pause is thereby caught by
// whichever side loses.
//
// NOTE: across processes this is best effort, bounded by the pause: a
// writer that takes longer than the pause from its read to the end of its
// write (a process starved of CPU, a slow endpoint) can still replace the
// rules of a writer that already read them back and returned, and neither
// notices (S3 has no conditional write of a lifecycle configuration).
// Under four CPU hogs on two cores TestS3ConcurrentLifecycleEditsKeepEveryRule
// (otherProcesses, 150 ms pause) lost a writer's rules 7 times in 20.
func (c *Client) editLifecycle(ctx context.Context, bucket string, owned func(id string) bool, want []types.LifecycleRule) error {
	if !c.lifecycleUnlocked {
		mu, _ := lifecycleLocks.LoadOrStore(c.endpoint+"\x00"+bucket, &sync.Mutex{})
		mu.(*sync.Mutex).Lock()
		defer mu.(*sync.Mutex).Unlock()
	}
	current, err := c.rules(ctx, bucket)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		if ownedEqual(current, owned, want) {
			return nil
		}
		var rules []types.LifecycleRule
		for _, r := range current {
			if !owned(aws.ToString(r.ID)) {
				rules = append(rules, r)
			}
		}
		rules = append(rules, want...)
		if err := c.writeRules(ctx, bucket, rules); err != nil {
			return err
		}
		if attempt == lifecycleAttempts {
			break
		}
		// Jitter, so two writers that collided do not collide again.
		wait := lifecycleSettle + time.Duration(rand.Int64N(int64(lifecycleSettle)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if current, err = c.rules(ctx, bucket); err != nil {
			return err
		}
	}
	return fmt.Errorf("set lifecycle on %s: %w: the rules written were replaced %d times; try again", bucket, ErrLifecycleContended, lifecycleAttempts)
}

// ownedEqual reports whether the owned rules of current are exactly want.
func ownedEqual(current []types.LifecycleRule, owned func(id string) bool, want []types.LifecycleRule) bool {
	have := map[string]LifecycleTier{}
	for _, r := range current {
		if id := aws.ToString(r.ID); owned(id) {
			if r.Status != types.ExpirationStatusEnabled {
				return false
			}
			have[id] = tierFromRule(r)
		}
	}
	if len(have) != len(want) {
		return false
	}
	for _, r := range want {
		if t, ok := have[aws.ToString(r.ID)]; !ok || t != tierFromRule(r) {
			return false
		}
	}
	return true
}

func (c *Client) writeRules(ctx context.Context, bucket string, rules []types.LifecycleRule) error {
	if len(rules) == 0 {
		_, err := c.s3.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String(bucket)})
		return c.classify("remove lifecycle on "+bucket, err)
	}
	_, err := c.s3.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket:                 aws.String(bucket),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules},
	})
	return c.classify("set lifecycle on "+bucket, err)
}

// ruleFromTier is the lifecycle rule of tier t, with ID id.
func ruleFromTier(id string, t LifecycleTier) types.LifecycleRule {
	r := types.LifecycleRule{
		ID:     aws.String(id),
		Status: types.ExpirationStatusEnabled,
		Filter: &types.LifecycleRuleFilter{Prefix: aws.String(t.Prefix)},
	}
	switch {
	case t.ExpirationDays > 0:
		r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(t.ExpirationDays)}
	case t.ExpiredObjectDeleteMarker:
		r.Expiration = &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}
	}
	if t.NoncurrentVersionExpirationDays > 0 {
		r.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(t.NoncurrentVersionExpirationDays)}
	}
	if t.TransitionDays > 0 {
		r.Transitions = []types.Transition{{Days: aws.Int32(t.TransitionDays), StorageClass: types.TransitionStorageClass(t.TransitionStorageClass)}}
	}
	return r
}

// tierFromRule reads a rule back; Name is the rule's ID.
func tierFromRule(r types.LifecycleRule) LifecycleTier {
	t := LifecycleTier{Name: aws.ToString(r.ID)}
	if r.Filter != nil {
		t.Prefix = aws.ToString(r.Filter.Prefix)
		if r.Filter.And != nil && t.Prefix == "" {
			t.Prefix = aws.ToString(r.Filter.And.Prefix)
		}
	}
	if t.Prefix == "" {
		t.Prefix = aws.ToString(r.Prefix) //nolint:staticcheck // older stores still answer with the top-level prefix
	}
	if r.Expiration != nil {
		t.ExpirationDays = aws.ToInt32(r.Expiration.Days)
		t.ExpiredObjectDeleteMarker = aws.ToBool(r.Expiration.ExpiredObjectDeleteMarker)
	}
	if r.NoncurrentVersionExpiration != nil {
		t.NoncurrentVersionExpirationDays = aws.ToInt32(r.NoncurrentVersionExpiration.NoncurrentDays)
	}
	if len(r.Transitions) > 0 {
		t.TransitionDays = aws.ToInt32(r.Transitions[0].Days)
		t.TransitionStorageClass = string(r.Transitions[0].StorageClass)
	}
	return t
}

// ReadBucket observes a bucket's posture. A missing bucket returns
// ErrBucketNotFound.
func (c *Client) ReadBucket(ctx context.Context, name string) (*BucketState, error) {
	bucket := aws.String(name)
	if _, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		err = c.classify("read bucket "+name, err)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, fmt.Errorf("read bucket %s: %w", name, ErrBucketNotFound)
		case errors.Is(err, ErrAccessDenied):
			// HeadBucket is authorised by s3:ListBucket on the whole
			// bucket, which the auditor (and the writer) hold only for
			// their own prefixes: whoever may read the configuration
			// below reads the posture. A bucket that is absent says so
			// there (NoSuchBucket), bad credentials too.
		default:
			return nil, err
		}
	}
	st := &BucketState{Spec: BucketSpec{Name: name}}

	ver, err := c.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: bucket})
	if err != nil {
		return nil, c.classify("read versioning of "+name, err)
	}
	st.Versioning = string(ver.Status)

	lock, err := c.s3.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: bucket})
	switch {
	case err == nil:
		if lock.ObjectLockConfiguration != nil {
			st.ObjectLockEnabled = lock.ObjectLockConfiguration.ObjectLockEnabled == types.ObjectLockEnabledEnabled
			if r := lock.ObjectLockConfiguration.Rule; r != nil && r.DefaultRetention != nil {
				days := aws.ToInt32(r.DefaultRetention.Days)
				if days == 0 && aws.ToInt32(r.DefaultRetention.Years) > 0 {
					days = aws.ToInt32(r.DefaultRetention.Years) * 365
				}
				st.Spec.Retention = &Retention{Mode: string(r.DefaultRetention.Mode), Days: days}
			}
		}
	case isCode(err, "ObjectLockConfigurationNotFoundError"):
	default:
		return nil, c.classify("read object lock of "+name, err)
	}

	enc, err := c.s3.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: bucket})
	switch {
	case err == nil:
		if enc.ServerSideEncryptionConfiguration != nil && len(enc.ServerSideEncryptionConfiguration.Rules) > 0 {
			if d := enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault; d != nil {
				st.Spec.Encryption = &Encryption{Algorithm: string(d.SSEAlgorithm), KMSKeyID: aws.ToString(d.KMSMasterKeyID)}
			}
		}
	case isCode(err, "ServerSideEncryptionConfigurationNotFoundError"):
	default:
		return nil, c.classify("read encryption of "+name, err)
	}

	rules, err := c.rules(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		// Disabled rules do nothing; policy-owned rules are not the bucket's.
		if r.Status != types.ExpirationStatusEnabled || isPolicyRule(aws.ToString(r.ID)) {
			continue
		}
		st.Spec.Lifecycle = append(st.Spec.Lifecycle, tierFromRule(r))
	}
	sort.Slice(st.Spec.Lifecycle, func(i, j int) bool { return st.Spec.Lifecycle[i].Name < st.Spec.Lifecycle[j].Name })

	tags, err := c.s3.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	switch {
	case err == nil:
		if len(tags.TagSet) > 0 {
			st.Spec.Tags = map[string]string{}
			for _, t := range tags.TagSet {
				st.Spec.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
	case isCode(err, "NoSuchTagSet", "NoSuchTagSetError"):
	default:
		return nil, c.classify("read tags of "+name, err)
	}

	pab, err := c.s3.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: bucket})
	switch {
	case err == nil && pab.PublicAccessBlockConfiguration != nil:
		p := pab.PublicAccessBlockConfiguration
		blocked := aws.ToBool(p.BlockPublicAcls) && aws.ToBool(p.BlockPublicPolicy) && aws.ToBool(p.IgnorePublicAcls) && aws.ToBool(p.RestrictPublicBuckets)
		st.PublicAccessBlocked = &blocked
	case err == nil, notImplemented(err), isCode(err, "MalformedXML", "InvalidRequest"):
	case errors.Is(c.classify("", err), ErrAccessDenied):
		// An auditor's keys may read the posture but not the block
		// (MinIO knows no such permission to grant): not read.
	case isCode(err, "NoSuchPublicAccessBlockConfiguration"):
		blocked := false
		st.PublicAccessBlocked = &blocked
	default:
		return nil, c.classify("read public access block of "+name, err)
	}
	return st, nil
}

// LockedVersion is an object version that object lock keeps from deletion.
type LockedVersion struct {
	Key, VersionID, Mode string
	RetainUntil          time.Time
}

// BucketLockedError is returned by DestroyBucket when versions under
// COMPLIANCE retention (or a legal hold) remain. Until is the latest
// retain-until date among them: the earliest time the bucket can go.
type BucketLockedError struct {
	Bucket string
	Locked []LockedVersion
	Until  time.Time
}

func (e *BucketLockedError) Error() string {
	return fmt.Sprintf("bucket %s holds %d object version(s) under COMPLIANCE object lock (e.g. %s), locked until %s; they cannot be deleted before then by anyone",
		e.Bucket, len(e.Locked), e.Locked[0].Key, e.Until.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrObjectLocked) hold.
func (e *BucketLockedError) Unwrap() error { return ErrObjectLocked }

// DestroyBucket deletes the bucket. Without force, a bucket holding any object
// version fails with ErrBucketNotEmpty. With force, every version is deleted
// first, bypassing GOVERNANCE retention; versions under COMPLIANCE retention
// are never deleted: the bucket stays and a *BucketLockedError says until when.
// A missing bucket is success.
func (c *Client) DestroyBucket(ctx context.Context, name string, force bool) error {
	store := c.Store(name)
	var versions []ObjectInfo
	err := store.ListVersions(ctx, "", func(o ObjectInfo) error {
		versions = append(versions, o)
		return nil
	})
	if errors.Is(err, ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(versions) > 0 && !force {
		return fmt.Errorf("bucket %s holds %d object version(s): %w; set force_destroy = true to delete them (versions under COMPLIANCE lock are never deleted)", name, len(versions), ErrBucketNotEmpty)
	}
	var locked []LockedVersion
	for _, v := range versions {
		if until, mode, ok := c.retention(ctx, name, v.Key, v.VersionID); ok && mode == ModeCompliance && until.After(time.Now()) {
			locked = append(locked, LockedVersion{Key: v.Key, VersionID: v.VersionID, Mode: mode, RetainUntil: until})
			continue
		}
		if err := c.deleteVersion(ctx, name, v.Key, v.VersionID, true); err != nil {
			if errors.Is(err, ErrObjectLocked) {
				until, mode, _ := c.retention(ctx, name, v.Key, v.VersionID)
				locked = append(locked, LockedVersion{Key: v.Key, VersionID: v.VersionID, Mode: mode, RetainUntil: until})
				continue
			}
			return err
		}
	}
	if len(locked) > 0 {
		e := &BucketLockedError{Bucket: name, Locked: locked}
		for _, l := range locked {
			if l.RetainUntil.After(e.Until) {
				e.Until = l.RetainUntil
			}
		}
		return e
	}
	_, err = c.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	err = c.classify("delete bucket "+name, err)
	if errors.Is(err, ErrBucketNotFound) {
		return nil
	}
	return err
}

func isCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if apiErr.ErrorCode() == c {
			return true
		}
	}
	return false
}

func notImplemented(err error) bool {
	return isCode(err, "NotImplemented", "XNotImplemented") ||
		(err != nil && strings.Contains(err.Error(), "StatusCode: 501"))
}

func encryptionEqual(a, b *Encryption) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func lifecycleEqual(a, b []LifecycleTier) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func tagsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
