package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/objectstore"
	"github.com/lifeboat-dr/terraform-provider-lifeboat/internal/repo"
)

// Check is one forbidden action the probe tries.
type Check string

// The checks, in the order Probe runs them.
const (
	// CheckDeleteLockedVersion permanently deletes a GOVERNANCE-locked
	// version of the canary.
	CheckDeleteLockedVersion Check = "delete_locked_version"
	// CheckBypassGovernance deletes it with governance retention bypassed.
	CheckBypassGovernance Check = "bypass_governance_retention"
	// CheckPutLifecycle writes the bucket's lifecycle back as it is.
	CheckPutLifecycle Check = "put_lifecycle"
	// CheckPutDefaultRetention writes the bucket's object-lock
	// configuration (its default retention) back as it is.
	CheckPutDefaultRetention Check = "put_default_retention"
	// CheckWriteOtherCluster puts a small fixed object into another
	// cluster's root, conditionally.
	CheckWriteOtherCluster Check = "write_other_cluster"
	// CheckRewritePolicy puts the cluster's policy.json, conditionally.
	CheckRewritePolicy Check = "rewrite_policy"
	// CheckDeleteObject deletes the canary without a version id (which
	// would only add a delete marker).
	CheckDeleteObject Check = "delete_object"
	// CheckPutBucketPolicy writes the bucket's policy back as it is (or
	// deletes the absent one).
	CheckPutBucketPolicy Check = "put_bucket_policy"
	// CheckWriteActivation puts the activation mark of a probe-only region
	// of the cluster, conditionally: copy keys that could write a mark
	// could activate the recovery region.
	CheckWriteActivation Check = "write_activation_mark"
)

// Checks lists every check of a writer, in the order Probe runs them.
func Checks() []Check { return ChecksFor(RoleWriter) }

// ChecksFor lists the checks ProbeRole runs for role, in order: the
// forbidden actions its document denies that the probe can try harmlessly.
// A writer may write policy.json's neighbours but not policy.json; the copy
// role writes every key of the copy (policy.json included) but deletes
// nothing and may not change the bucket's policy. Roles without a probe
// (admin, restorer, auditor) have none.
func ChecksFor(role Role) []Check {
	switch role {
	case RoleWriter:
		return []Check{CheckDeleteLockedVersion, CheckBypassGovernance, CheckPutLifecycle,
			CheckPutDefaultRetention, CheckWriteOtherCluster, CheckRewritePolicy}
	case RoleCopy:
		return []Check{CheckDeleteLockedVersion, CheckBypassGovernance, CheckDeleteObject, CheckPutLifecycle,
			CheckPutDefaultRetention, CheckPutBucketPolicy, CheckWriteActivation}
	}
	return nil
}

// Outcome is what the store answered a check.
type Outcome string

// Outcomes.
const (
	// Denied: the store refused the action (Result.By says why).
	Denied Outcome = "denied"
	// Allowed: the store accepted it. For a writer, a hole in its policy.
	Allowed Outcome = "allowed"
	// Unknown: the check could not be made (Result.Detail says why).
	Unknown Outcome = "unknown"
)

// What denied an action.
const (
	ByPolicy = "policy"
	ByLock   = "lock"
)

// Result is one check's outcome.
type Result struct {
	Check   Check
	Outcome Outcome
	// By is ByPolicy or ByLock for a denied check.
	By string
	// Detail says what was tried and what the store answered.
	Detail string
}

// Report is the outcome of every check.
type Report struct {
	Results []Result
}

// Allowed lists the checks the store allowed.
func (r Report) Allowed() []Check {
	var out []Check
	for _, res := range r.Results {
		if res.Outcome == Allowed {
			out = append(out, res.Check)
		}
	}
	return out
}

// Result returns check's result; ok is false when it was not run.
func (r Report) Result(c Check) (Result, bool) {
	for _, res := range r.Results {
		if res.Check == c {
			return res, true
		}
	}
	return Result{}, false
}

// probeJob names the probe's objects below the jobs folder of a cluster:
// a job record the agent itself never writes.
const probeJob = "lifeboat-access-probe"

// canaryRetention is how long the canary's versions stay locked. A version
// locked for longer than canaryReuse more is reused, so an hourly probe
// adds about one small version a day.
const (
	canaryRetention = 24 * time.Hour
	canaryReuse     = time.Hour
)

// otherCluster is the cluster whose root the write_other_cluster check
// writes into: a name no real cluster is given (it is not one a writer
// owns, whatever its own name).
func otherCluster(own string) string {
	if own == probeJob {
		return probeJob + "-other"
	}
	return probeJob
}

// Probe tries each forbidden action of a writer (Checks) with client's
// credentials, on the repository l in bucket, and reports what the store
// answered. With a writer's credentials every check must be Denied.
//
// Each check is harmless when it is wrongly allowed:
//   - the two delete checks target a version of the canary, a probe-only
//     object below l's jobs folder (l.JobRecordKey), put under GOVERNANCE
//     retention by the probe itself;
//   - the lifecycle and object-lock configurations are read first and
//     written back identical (a bucket without lifecycle gets a delete of
//     its absent lifecycle); a bucket without object lock is not touched
//     (Unknown), since writing an object-lock configuration would enable it;
//   - the other cluster's object and policy.json are put with If-None-Match,
//     so an allowed put of an existing key answers 412 and writes nothing;
//     policy.json is put with its own current bytes, and an absent one is
//     not written (Unknown).
//
// A concurrent change by the admin between a read and its write-back could
// be undone by an allowed write-back: only a writer whose policy is already
// broken can do that, and the report then says Allowed.
func Probe(ctx context.Context, client *objectstore.Client, bucket string, l repo.Layout) Report {
	return ProbeRole(ctx, client, bucket, l, RoleWriter)
}

// ProbeRole runs ChecksFor(role) with client's credentials on the
// repository l (which needs a cluster) in bucket, as Probe does for a
// writer. For the copy role, bucket is the recovery region's destination
// and the canary is a probe-only region canary
// (l.RegionCanaryKey("lifeboat-access-probe")): the copy role may write
// there but may not name a retention, so its canary takes the bucket's
// default lock.
func ProbeRole(ctx context.Context, client *objectstore.Client, bucket string, l repo.Layout, role Role) Report {
	p := &prober{c: client, api: client.S3(), bucket: aws.String(bucket), l: l, role: role}
	var out Report
	for _, c := range ChecksFor(role) {
		var r Result
		switch c {
		case CheckDeleteLockedVersion:
			r = p.deleteLocked(ctx, false)
		case CheckBypassGovernance:
			r = p.deleteLocked(ctx, true)
		case CheckDeleteObject:
			r = p.deleteObject(ctx)
		case CheckPutLifecycle:
			r = p.putLifecycle(ctx)
		case CheckPutDefaultRetention:
			r = p.putRetention(ctx)
		case CheckPutBucketPolicy:
			r = p.putBucketPolicy(ctx)
		case CheckWriteOtherCluster:
			r = p.writeOtherCluster(ctx)
		case CheckRewritePolicy:
			r = p.rewritePolicy(ctx)
		case CheckWriteActivation:
			r = p.writeActivation(ctx)
		}
		out.Results = append(out.Results, r)
	}
	return out
}

type prober struct {
	c      *objectstore.Client
	api    *s3.Client
	bucket *string
	l      repo.Layout
	role   Role
}

// canary returns a locked version of the canary, reusing the current one
// while it stays locked long enough: a writer's is under GOVERNANCE
// retention it names itself; the copy role's under the bucket's default
// (it may not name one).
func (p *prober) canary(ctx context.Context) (key, version string, err error) {
	if p.role == RoleCopy {
		return p.copyCanary(ctx)
	}
	key = p.l.JobRecordKey(probeJob)
	now := time.Now()
	head, err := p.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: p.bucket, Key: aws.String(key)})
	if err == nil && head.ObjectLockMode == types.ObjectLockModeGovernance && head.ObjectLockRetainUntilDate != nil &&
		head.ObjectLockRetainUntilDate.After(now.Add(canaryReuse)) && aws.ToString(head.VersionId) != "" {
		return key, aws.ToString(head.VersionId), nil
	}
	body := []byte("lifeboat access probe canary: a locked version the writer must not be able to delete\n")
	out, err := p.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: p.bucket, Key: aws.String(key), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ObjectLockMode:            types.ObjectLockModeGovernance,
		ObjectLockRetainUntilDate: aws.Time(now.Add(canaryRetention).UTC()),
	})
	if err != nil {
		return key, "", p.c.Classify("put the probe's canary s3://"+*p.bucket+"/"+key, err)
	}
	if aws.ToString(out.VersionId) == "" {
		return key, "", fmt.Errorf("put the probe's canary s3://%s/%s: the bucket keeps no versions", *p.bucket, key)
	}
	return key, aws.ToString(out.VersionId), nil
}

func (p *prober) deleteLocked(ctx context.Context, bypass bool) Result {
	check := CheckDeleteLockedVersion
	if bypass {
		check = CheckBypassGovernance
	}
	key, version, err := p.canary(ctx)
	if err != nil {
		return Result{Check: check, Outcome: Unknown, Detail: err.Error()}
	}
	in := &s3.DeleteObjectInput{Bucket: p.bucket, Key: aws.String(key), VersionId: aws.String(version)}
	if bypass {
		in.BypassGovernanceRetention = aws.Bool(true)
	}
	_, err = p.api.DeleteObject(ctx, in)
	what := fmt.Sprintf("delete GOVERNANCE-locked version %s of s3://%s/%s", version, *p.bucket, key)
	if bypass {
		what += " bypassing governance retention"
	}
	return p.result(check, what, err)
}

func (p *prober) copyCanary(ctx context.Context) (key, version string, err error) {
	key = p.l.RegionCanaryKey(probeJob)
	head, err := p.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: p.bucket, Key: aws.String(key)})
	if err == nil && head.ObjectLockRetainUntilDate != nil && head.ObjectLockRetainUntilDate.After(time.Now().Add(canaryReuse)) &&
		aws.ToString(head.VersionId) != "" {
		return key, aws.ToString(head.VersionId), nil
	}
	body := []byte("lifeboat access probe canary: a version the copy role must not be able to delete\n")
	out, err := p.api.PutObject(ctx, &s3.PutObjectInput{Bucket: p.bucket, Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		return key, "", p.c.Classify("put the probe's canary s3://"+*p.bucket+"/"+key, err)
	}
	if aws.ToString(out.VersionId) == "" {
		return key, "", fmt.Errorf("put the probe's canary s3://%s/%s: the bucket keeps no versions", *p.bucket, key)
	}
	return key, aws.ToString(out.VersionId), nil
}

// deleteObject deletes the canary without a version id: allowed, it only
// adds a delete marker over a probe-only object.
func (p *prober) deleteObject(ctx context.Context) Result {
	key, _, err := p.canary(ctx)
	if err != nil {
		return Result{Check: CheckDeleteObject, Outcome: Unknown, Detail: err.Error()}
	}
	_, err = p.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: p.bucket, Key: aws.String(key)})
	return p.result(CheckDeleteObject, fmt.Sprintf("delete s3://%s/%s (a delete marker)", *p.bucket, key), err)
}

// putBucketPolicy puts a malformed bucket policy: the store authorises a
// request before it parses its body, so an allowed caller gets a
// malformed-policy error and nothing changes, a denied one AccessDenied.
// (Reading the current policy to write it back needs a permission the
// copy role does not have.)
func (p *prober) putBucketPolicy(ctx context.Context) Result {
	_, err := p.api.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: p.bucket, Policy: aws.String("lifeboat access probe: not a policy")})
	what := "put a malformed bucket policy on " + *p.bucket
	// NOTE: only a refusal of the document itself is a verdict; bad
	// credentials or throttling are not.
	if code := apiCode(err); err != nil && (strings.Contains(code, "Malformed") || strings.Contains(code, "Polic")) {
		return Result{Check: CheckPutBucketPolicy, Outcome: Allowed, Detail: what + ": authorised, then refused as " + code + " (nothing changed)"}
	}
	return p.result(CheckPutBucketPolicy, what, err)
}

func (p *prober) putLifecycle(ctx context.Context) Result {
	cur, err := p.api.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: p.bucket})
	switch {
	case apiCode(err) == "NoSuchLifecycleConfiguration":
		// Nothing to write back: deleting the absent lifecycle needs the
		// same permission (s3:PutLifecycleConfiguration) and changes
		// nothing.
		_, err = p.api.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: p.bucket})
		if apiCode(err) == "NoSuchLifecycleConfiguration" {
			err = nil // authorised, then found nothing to delete
		}
		return p.result(CheckPutLifecycle, "delete the (absent) lifecycle of "+*p.bucket, err)
	case err != nil:
		return Result{Check: CheckPutLifecycle, Outcome: Unknown,
			Detail: "reading the lifecycle to write it back: " + p.c.Classify("read lifecycle of "+*p.bucket, err).Error()}
	}
	_, err = p.api.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{
		Bucket:                             p.bucket,
		LifecycleConfiguration:             &types.BucketLifecycleConfiguration{Rules: cur.Rules},
		TransitionDefaultMinimumObjectSize: cur.TransitionDefaultMinimumObjectSize,
	})
	return p.result(CheckPutLifecycle, fmt.Sprintf("write the lifecycle of %s back unchanged (%d rules)", *p.bucket, len(cur.Rules)), err)
}

func (p *prober) putRetention(ctx context.Context) Result {
	cur, err := p.api.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: p.bucket})
	if err != nil {
		return Result{Check: CheckPutDefaultRetention, Outcome: Unknown,
			Detail: "reading the object-lock configuration to write it back: " + p.c.Classify("read object lock of "+*p.bucket, err).Error()}
	}
	lock := cur.ObjectLockConfiguration
	if lock == nil || lock.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return Result{Check: CheckPutDefaultRetention, Outcome: Unknown,
			Detail: "bucket " + *p.bucket + " has no object lock: writing a configuration back would enable it"}
	}
	_, err = p.api.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: p.bucket, ObjectLockConfiguration: lock})
	what := "write the object-lock configuration of " + *p.bucket + " back unchanged"
	if r := lock.Rule; r != nil && r.DefaultRetention != nil {
		d := r.DefaultRetention
		what += fmt.Sprintf(" (default retention %s, %d days, %d years)", d.Mode, aws.ToInt32(d.Days), aws.ToInt32(d.Years))
	}
	return p.result(CheckPutDefaultRetention, what, err)
}

func (p *prober) writeOtherCluster(ctx context.Context) Result {
	other := repo.Layout{Prefix: p.l.Prefix, Cluster: otherCluster(p.l.Cluster)}
	key := other.JobRecordKey(probeJob)
	body := []byte("{}\n")
	_, err := p.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: p.bucket, Key: aws.String(key), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		IfNoneMatch: aws.String("*"),
	})
	return p.result(CheckWriteOtherCluster, fmt.Sprintf("put s3://%s/%s (If-None-Match) into cluster %s's root", *p.bucket, key, other.Cluster), err)
}

// writeActivation puts an empty, unsigned activation mark of the
// probe-only region (no region of that name exists, and no agent acts on
// an unsigned mark when it trusts keys) with If-None-Match: allowed, it
// lands once and later probes answer 412.
func (p *prober) writeActivation(ctx context.Context) Result {
	key := p.l.RegionActivationKey(probeJob)
	body := []byte("{}\n")
	_, err := p.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: p.bucket, Key: aws.String(key), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		IfNoneMatch: aws.String("*"),
	})
	return p.result(CheckWriteActivation, fmt.Sprintf("put s3://%s/%s (If-None-Match), a region's activation mark", *p.bucket, key), err)
}

func (p *prober) rewritePolicy(ctx context.Context) Result {
	key := p.l.PolicyKey()
	out, err := p.api.GetObject(ctx, &s3.GetObjectInput{Bucket: p.bucket, Key: aws.String(key)})
	if err != nil {
		err = p.c.Classify("read s3://"+*p.bucket+"/"+key, err)
		if errors.Is(err, objectstore.ErrNotFound) {
			return Result{Check: CheckRewritePolicy, Outcome: Unknown, Detail: key + " is absent: nothing to rewrite (the provider has written no policy yet)"}
		}
		return Result{Check: CheckRewritePolicy, Outcome: Unknown, Detail: "reading the policy: " + err.Error()}
	}
	body, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	out.Body.Close()
	if err != nil {
		return Result{Check: CheckRewritePolicy, Outcome: Unknown, Detail: "reading the policy: " + err.Error()}
	}
	// Its own bytes, conditionally: allowed, the put answers 412; even if
	// the policy vanished in between, what lands is the policy as it was.
	_, err = p.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: p.bucket, Key: aws.String(key), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		IfNoneMatch: aws.String("*"),
	})
	return p.result(CheckRewritePolicy, fmt.Sprintf("put s3://%s/%s (If-None-Match)", *p.bucket, key), err)
}

// result types the store's answer to what. A failed condition (412) is
// Allowed: the store authorises a request before it evaluates its
// conditions, so the write was permitted and only the condition kept it
// from changing anything.
func (p *prober) result(check Check, what string, err error) Result {
	if err == nil {
		return Result{Check: check, Outcome: Allowed, Detail: what + ": accepted"}
	}
	err = p.c.Classify(what, err)
	switch {
	case errors.Is(err, objectstore.ErrExists):
		return Result{Check: check, Outcome: Allowed, Detail: what + ": authorised (the condition failed, nothing was written)"}
	case errors.Is(err, objectstore.ErrObjectLocked):
		return Result{Check: check, Outcome: Denied, By: ByLock, Detail: err.Error()}
	case errors.Is(err, objectstore.ErrAccessDenied) && apiCode(err) == "AccessDenied":
		// GOTCHA: AWS refuses a locked version with AccessDenied too, saying
		// so in the message; MinIO says "WORM protected" (ErrObjectLocked).
		if strings.Contains(strings.ToLower(apiMessage(err)), "object lock") {
			return Result{Check: check, Outcome: Denied, By: ByLock, Detail: err.Error()}
		}
		return Result{Check: check, Outcome: Denied, By: ByPolicy, Detail: err.Error()}
	}
	// Bad credentials, an unreachable store, anything else: not a verdict.
	return Result{Check: check, Outcome: Unknown, Detail: err.Error()}
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func apiMessage(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorMessage()
	}
	return ""
}
