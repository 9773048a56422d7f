package objectstore

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Config locates an S3 API and the credentials to use. Empty fields fall back
// to the standard AWS environment variables and credential chain
// (AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, profiles, IMDS...), then
// to the LIFEBOAT_S3_* variables for what AWS has no variable for.
type Config struct {
	// Endpoint is the S3 API URL, e.g. http://127.0.0.1:9000. Empty means AWS.
	Endpoint string
	// Region defaults to us-east-1 when nothing else sets it.
	Region       string
	AccessKey    string
	SecretKey    string
	SessionToken string
	// PathStyle addresses buckets as endpoint/bucket instead of bucket.endpoint
	// (MinIO and most self-hosted stores need it).
	PathStyle bool
	// Insecure skips TLS certificate verification (self-signed test stores).
	Insecure bool
	// Profile is a profile of the AWS shared configuration and credentials
	// files; "" is the default chain's choice (AWS_PROFILE, then default).
	// Static keys, when set, win.
	Profile string
	// TLSSessionFile, when set, is a file where TLS sessions are kept for
	// the next process to resume (see sessionFile): for commands started
	// once per WAL segment.
	TLSSessionFile string
}

// Environment variables read when the matching Config field is empty.
const (
	EnvEndpoint  = "LIFEBOAT_S3_ENDPOINT"
	EnvPathStyle = "LIFEBOAT_S3_PATH_STYLE"
	EnvInsecure  = "LIFEBOAT_S3_INSECURE"
)

// FromEnv fills empty fields of c from LIFEBOAT_S3_* variables. AWS variables
// are read later by the SDK itself.
func (c Config) FromEnv() Config {
	if c.Endpoint == "" {
		c.Endpoint = os.Getenv(EnvEndpoint)
	}
	if !c.PathStyle {
		c.PathStyle, _ = strconv.ParseBool(os.Getenv(EnvPathStyle))
	}
	if !c.Insecure {
		c.Insecure, _ = strconv.ParseBool(os.Getenv(EnvInsecure))
	}
	return c
}

// Client is a connection pool to one S3 endpoint, shared by every Store and
// every resource that uses it.
type Client struct {
	s3       *s3.Client
	endpoint string
	// plainHTTP is true for an http:// endpoint (no TLS).
	plainHTTP bool
	// lifecycleUnlocked skips the in-process lifecycle lock, so tests can
	// play several processes against one bucket.
	lifecycleUnlocked bool
}

// NewClient resolves configuration and credentials. It makes no request: a
// wrong endpoint or bad credentials surface, classified as ErrUnreachable or
// ErrAccessDenied, on the first call that needs the store.
func NewClient(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.FromEnv()
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return nil, errors.New("object store credentials: access_key and secret_key must be set together")
		}
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)))
	}
	httpClient := awshttp.NewBuildableClient()
	if cfg.Insecure {
		httpClient = httpClient.WithTransportOptions(func(t *http.Transport) {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			t.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // opt-in for self-signed test stores
		})
	}
	httpClient = httpClient.WithTransportOptions(func(t *http.Transport) {
		// Hundreds of tenants share one pool: keep enough idle connections.
		t.MaxIdleConnsPerHost = 64
	})
	if cfg.TLSSessionFile != "" {
		httpClient = httpClient.WithTransportOptions(func(t *http.Transport) {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			t.TLSClientConfig.ClientSessionCache = &sessionFile{path: cfg.TLSSessionFile}
		})
	}
	opts = append(opts, config.WithHTTPClient(httpClient))
	var awsCfg aws.Config
	if cfg.Insecure && cfg.Endpoint != "" && cfg.AccessKey != "" {
		// Endpoint and keys are explicit and certificates go unchecked:
		// the AWS shared files and environment have nothing left to add,
		// and loading them costs milliseconds on every archive_command
		// (parsing the CA bundle AWS_CA_BUNDLE names, for one).
		awsCfg = aws.Config{
			Region:      cmp.Or(cfg.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")),
			Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)),
			HTTPClient:  httpClient,
		}
	} else {
		var err error
		awsCfg, err = config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("loading object store configuration: %w", err)
		}
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// NOTE: wrapped here, after the configuration has set the client
		// up (a CA bundle needs the buildable client itself).
		o.HTTPClient = withRequestCounting(o.HTTPClient)
		// Objects written by multipart uploads, or by stores that keep no
		// checksum, have none to validate: Lifeboat checks its own SHA-256
		// of what it reads, so the SDK's per-request notice is only noise
		// in archive_command/restore_command logs.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "AWS S3 (" + awsCfg.Region + ")"
		if awsCfg.BaseEndpoint != nil {
			endpoint = *awsCfg.BaseEndpoint
		}
	}
	return &Client{s3: client, endpoint: endpoint, plainHTTP: strings.HasPrefix(strings.ToLower(endpoint), "http://")}, nil
}

// Clients hands out one *Client per distinct Config, made on first use and
// shared after: every resource of a provider instance (or every job of an
// agent) that names the same store (endpoint, region, credentials, path
// style, TLS) shares its connection pool, and a second region or a role
// with its own credentials is simply another Config. The zero value is
// ready to use.
type Clients struct {
	mu      sync.Mutex
	clients map[Config]*lazyClient
}

type lazyClient struct {
	once   sync.Once
	client *Client
	err    error
}

// Get returns the client for cfg, making it on the first call for that
// Config. A failure to make it is returned to every caller for that
// Config (NewClient makes no request: such a failure is a configuration
// error, not a transient one).
func (r *Clients) Get(ctx context.Context, cfg Config) (*Client, error) {
	r.mu.Lock()
	if r.clients == nil {
		r.clients = map[Config]*lazyClient{}
	}
	lc, ok := r.clients[cfg]
	if !ok {
		lc = &lazyClient{}
		r.clients[cfg] = lc
	}
	r.mu.Unlock()
	// NOTE: made outside the lock, so a slow credential chain for one
	// store never holds up another.
	lc.once.Do(func() { lc.client, lc.err = NewClient(ctx, cfg) })
	return lc.client, lc.err
}

// Len is the number of distinct configurations asked for.
func (r *Clients) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.clients)
}

// Endpoint names the store for messages.
func (c *Client) Endpoint() string { return c.endpoint }

// S3 exposes the underlying SDK client for the few engine calls that need
// an S3 feature the Store interface does not carry.
func (c *Client) S3() *s3.Client { return c.s3 }

// Store returns a Store scoped to bucket, sharing this client's pool.
func (c *Client) Store(bucket string) *S3 { return &S3{client: c, bucket: bucket} }

// Classify wraps err, from a call on S3(), with the sentinel it means
// (ErrAccessDenied, ErrObjectLocked, ErrExists...), keeping its text; op
// names the call in the message. A nil err stays nil.
func (c *Client) Classify(op string, err error) error { return c.classify(op, err) }

// classify wraps err with the sentinel it means, keeping the original text.
func (c *Client) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var sendErr *smithyhttp.RequestSendError
	if errors.As(err, &sendErr) {
		return fmt.Errorf("%w at %s: %s: %w", ErrUnreachable, c.endpoint, op, err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "worm protected") {
			// MinIO says InvalidRequest or AccessDenied with this text.
			return fmt.Errorf("%s: %w: %w", op, ErrObjectLocked, err)
		}
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchVersion":
			return fmt.Errorf("%s: %w: %w", op, ErrNotFound, err)
		case "NoSuchBucket":
			return fmt.Errorf("%s: %w: %w", op, ErrBucketNotFound, err)
		case "BucketNotEmpty":
			return fmt.Errorf("%s: %w: %w", op, ErrBucketNotEmpty, err)
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("%s: %w: %w", op, ErrExists, err)
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
			return fmt.Errorf("%w at %s (check access_key/secret_key or the AWS credential chain): %s: %w", ErrAccessDenied, c.endpoint, op, err)
		case "AccessDenied":
			return fmt.Errorf("%w at %s: %s: %w", ErrAccessDenied, c.endpoint, op, err)
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch respErr.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("%s: %w: %w", op, ErrNotFound, err)
		case http.StatusPreconditionFailed:
			return fmt.Errorf("%s: %w: %w", op, ErrExists, err)
		case http.StatusForbidden:
			return fmt.Errorf("%w at %s: %s: %w", ErrAccessDenied, c.endpoint, op, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// AccessKeyID names the credentials this client signs with (never the
// secret): what audit records say a restore ran as. "" when no credentials
// resolve.
func (c *Client) AccessKeyID(ctx context.Context) string {
	p := c.s3.Options().Credentials
	if p == nil {
		return ""
	}
	cr, err := p.Retrieve(ctx)
	if err != nil {
		return ""
	}
	return cr.AccessKeyID
}
