package objectstore

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// AsOtherProcess makes c skip this process's lifecycle lock, as a client of
// another process would: only the write-verify-retry loop protects it.
func AsOtherProcess(c *Client) { c.lifecycleUnlocked = true }

// SetLifecycleSettle shortens the pause before a lifecycle write is read
// back; it returns a function restoring the previous value.
func SetLifecycleSettle(d time.Duration) (restore func()) {
	prev := lifecycleSettle
	lifecycleSettle = d
	return func() { lifecycleSettle = prev }
}

// SetClock makes m stamp versions with now.
func (m *Memory) SetClock(now func() time.Time) { m.now = now }

// IncompleteUploads lists the keys of the multipart uploads started and
// neither completed nor aborted in s's bucket.
func IncompleteUploads(ctx context.Context, s Store) ([]string, error) {
	out, err := s.(*S3).client.s3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.Bucket())})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys, nil
}
