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

// UploadedParts counts the parts stored so far of the multipart upload in
// progress for key in s's bucket (0 when there is none).
func UploadedParts(ctx context.Context, s Store, key string) (int, error) {
	c := s.(*S3).client.s3
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.Bucket()), Prefix: aws.String(key)})
	if err != nil {
		return 0, err
	}
	for _, u := range ups.Uploads {
		if aws.ToString(u.Key) != key {
			continue
		}
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(s.Bucket()), Key: u.Key, UploadId: u.UploadId})
		if err != nil {
			return 0, err
		}
		return len(parts.Parts), nil
	}
	return 0, nil
}

// PartSize is the size of a streamed upload's parts.
const PartSize = partSize
