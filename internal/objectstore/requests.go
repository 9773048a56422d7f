package objectstore

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// EnvRequestLog names a file every S3 request of this process is appended
// to, one line each ("<method> <bucket/key path>?<query names>"), so a
// benchmark or an operator can count what one `terraform plan` costs. Unset:
// no log. The lines are written with O_APPEND, one write each, so several
// processes may share the file.
const EnvRequestLog = "LIFEBOAT_S3_REQUEST_LOG"

// requestCount counts the S3 requests of every client of this process
// (Requests).
var requestCount atomic.Int64

// Requests is how many S3 requests every client of this process has sent
// so far (retries included: each is a request the store answers and bills).
// Tests take the difference around an operation.
func Requests() int64 { return requestCount.Load() }

// countingClient counts (and, with EnvRequestLog, logs) every request
// before handing it to next.
type countingClient struct {
	next aws.HTTPClient
	log  *os.File
}

var (
	requestLogOnce sync.Once
	requestLog     *os.File
)

// withRequestCounting wraps next so every request is counted.
func withRequestCounting(next aws.HTTPClient) aws.HTTPClient {
	requestLogOnce.Do(func() {
		if path := os.Getenv(EnvRequestLog); path != "" {
			// NOTE: a log that cannot be opened only loses the count; the
			// requests themselves must not fail for it.
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err == nil {
				requestLog = f
			}
		}
	})
	return countingClient{next: next, log: requestLog}
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	requestCount.Add(1)
	if c.log != nil {
		_, _ = c.log.WriteString(requestLine(r))
	}
	return c.next.Do(r)
}

// requestLine describes r without credentials or values: the method, the
// path and the names of the query parameters (which say the operation:
// ?versions, ?lifecycle, ?list-type).
func requestLine(r *http.Request) string {
	var names []string
	for k := range r.URL.Query() {
		if !strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	q := ""
	if len(names) > 0 {
		q = "?" + strings.Join(names, "&")
	}
	return fmt.Sprintf("%s %s%s\n", r.Method, r.URL.Path, q)
}
