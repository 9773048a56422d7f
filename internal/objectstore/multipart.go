package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// maxUploadParts is S3's limit on the parts of one multipart upload.
const maxUploadParts = 10000

// partBuffers holds the partSize buffers of streamed uploads for reuse by the
// next upload. A base backup stores one 512 MiB object after another (and
// every WAL segment is a stream of unknown size): the SDK's upload manager
// allocated a fresh set of part buffers per object, plus its first part
// grown by io.ReadAll, so the garbage, and with it the agent's peak RSS,
// grew with the number of objects, that is with the database's size.
var partBuffers = &bufferPool{size: partSize, keep: uploadConcurrency + 1, idle: 30 * time.Second}

// headBuffers hold the first bytes of each streamed upload (putStream), enough
// for a whole small body; kept for as many uploads as tenant dumps may run at
// once.
var headBuffers = &bufferPool{size: headSize, keep: 32, idle: 30 * time.Second}

// headSize is the streamed body that is stored without a part buffer.
const headSize = 256 << 10

// bufferPool is a free list of equal buffers: at most keep are kept, and
// all are dropped once none was taken for idle, so an agent between
// backups gives them back. (A sync.Pool keeps a buffer put on one core
// away from a Get on another: uploads kept allocating.)
type bufferPool struct {
	size, keep int
	idle       time.Duration

	mu    sync.Mutex
	free  []*[]byte
	used  time.Time
	timer *time.Timer
}

func (p *bufferPool) Get() *[]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used = time.Now()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	b := make([]byte, p.size)
	return &b
}

func (p *bufferPool) Put(b *[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < p.keep {
		p.free = append(p.free, b)
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(p.idle, p.trim)
	}
}

// trim drops the free buffers when none was taken for idle.
func (p *bufferPool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if since := time.Since(p.used); since < p.idle {
		p.timer.Reset(p.idle - since)
		return
	}
	p.free, p.timer = nil, nil
}

// putStream stores a body of unknown size (or one too large for a single
// streamed request) without rewinding it: the first partSize bytes are
// read into a buffer; a body that ends within them is one PutObject (from
// the buffer, so the SDK may retry it), a longer one a multipart upload of
// partSize parts, uploadConcurrency at a time. Memory is at most
// uploadConcurrency+1 buffers per upload, reused across uploads. A failed
// upload is aborted, so no partial object ever becomes visible.
func (s *S3) putStream(ctx context.Context, key string, body io.Reader, opts PutOptions, in *s3.PutObjectInput) (ObjectInfo, error) {
	// The first bytes go to a small buffer: a body that ends within it (a
	// tenant dump of a small database, a manifest) never takes a part
	// buffer. With many such uploads at once (tenant dumps run up to 32
	// side by side) the part pool, which keeps uploadConcurrency+1, was
	// empty and each upload zeroed a fresh 16 MiB for a few kilobytes.
	head := headBuffers.Get()
	n, err := io.ReadFull(body, *head)
	var first *[]byte
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		first = head
		defer headBuffers.Put(head)
	case err == nil:
		first = partBuffers.Get()
		copy(*first, (*head)[:n])
		headBuffers.Put(head)
		var m int
		m, err = io.ReadFull(body, (*first)[n:])
		n += m
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			defer partBuffers.Put(first)
		}
	default:
		headBuffers.Put(head)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		in.Body = bytes.NewReader((*first)[:n])
		in.ContentLength = aws.Int64(int64(n))
		// A WAL segment is such a body: no 100-continue round trip
		// (noExpectContinue), as for a put of known size.
		out, err := s.client.s3.PutObject(ctx, in, noExpectContinue)
		if err != nil {
			return ObjectInfo{}, s.putError(ctx, key, opts, err)
		}
		return ObjectInfo{Key: key, Size: int64(n), ETag: strings.Trim(aws.ToString(out.ETag), `"`), VersionID: aws.ToString(out.VersionId),
			IsLatest: true, Metadata: lowerKeys(opts.Metadata)}, nil
	}
	if err != nil {
		if first != nil {
			partBuffers.Put(first)
		}
		return ObjectInfo{}, fmt.Errorf("put s3://%s/%s: reading the body: %w", s.bucket, key, err)
	}

	created, err := s.client.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, Metadata: in.Metadata,
		ObjectLockMode: in.ObjectLockMode, ObjectLockRetainUntilDate: in.ObjectLockRetainUntilDate,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		partBuffers.Put(first)
		return ObjectInfo{}, s.putError(ctx, key, opts, err)
	}
	up := &multipart{s: s, in: in, id: created.UploadId}
	size, err := up.send(ctx, body, first, n)
	var out *s3.CompleteMultipartUploadOutput
	if err == nil {
		out, err = s.client.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: in.Bucket, Key: in.Key, UploadId: up.id, IfNoneMatch: in.IfNoneMatch,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: up.parts},
		})
		if err != nil {
			err = s.putError(ctx, key, opts, err)
		}
	}
	if err != nil {
		up.abort(ctx)
		return ObjectInfo{}, err
	}
	info := ObjectInfo{Key: key, Size: size, ETag: strings.Trim(aws.ToString(out.ETag), `"`), VersionID: aws.ToString(out.VersionId),
		IsLatest: true, Metadata: lowerKeys(opts.Metadata)}
	return info, nil
}

// multipart is one multipart upload in progress.
type multipart struct {
	s  *S3
	in *s3.PutObjectInput
	id *string

	mu    sync.Mutex
	err   error
	parts []types.CompletedPart
}

type uploadPart struct {
	buf *[]byte
	n   int
	num int32
}

// send uploads first[:n] and the rest of body as the upload's parts and
// returns the object's size. The reader fills the next buffer while
// uploadConcurrency parts are in flight; a failed part stops the reading.
func (m *multipart) send(ctx context.Context, body io.Reader, first *[]byte, n int) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan uploadPart)
	var wg sync.WaitGroup
	for range uploadConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if m.failed() == nil {
					if err := m.sendPart(ctx, p); err != nil {
						m.fail(err)
						cancel()
					}
				}
				partBuffers.Put(p.buf)
			}
		}()
	}
	size := int64(n)
	work <- uploadPart{buf: first, n: n, num: 1}
	for num := int32(2); m.failed() == nil; num++ {
		buf := partBuffers.Get()
		n, err := io.ReadFull(body, *buf)
		end := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !end {
			m.fail(fmt.Errorf("put s3://%s/%s: reading the body: %w", m.s.bucket, aws.ToString(m.in.Key), err))
		}
		if n == 0 || m.failed() != nil {
			partBuffers.Put(buf)
			break
		}
		if num > maxUploadParts {
			partBuffers.Put(buf)
			m.fail(fmt.Errorf("put s3://%s/%s: the body is larger than %d parts of %d bytes", m.s.bucket, aws.ToString(m.in.Key), maxUploadParts, partSize))
			break
		}
		size += int64(n)
		work <- uploadPart{buf: buf, n: n, num: num}
		if end {
			break
		}
	}
	close(work)
	wg.Wait()
	if err := m.failed(); err != nil {
		return 0, err
	}
	// S3 wants the parts in ascending order.
	slices.SortFunc(m.parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	return size, nil
}

func (m *multipart) sendPart(ctx context.Context, p uploadPart) error {
	// From the buffer, seekable: the SDK retries a failed part itself.
	out, err := m.s.client.s3.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: m.in.Bucket, Key: m.in.Key, UploadId: m.id, PartNumber: aws.Int32(p.num),
		Body: bytes.NewReader((*p.buf)[:p.n]), ContentLength: aws.Int64(int64(p.n)),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}, noExpectContinue)
	if err != nil {
		return m.s.client.classify(fmt.Sprintf("put s3://%s/%s part %d", m.s.bucket, aws.ToString(m.in.Key), p.num), err)
	}
	m.mu.Lock()
	m.parts = append(m.parts, types.CompletedPart{PartNumber: aws.Int32(p.num), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	m.mu.Unlock()
	return nil
}

func (m *multipart) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = err
	}
}

func (m *multipart) failed() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// abort discards the parts stored so far, also when ctx was cancelled (a
// cancelled backup must not leave parts behind); best effort: an unfinished
// upload is invisible to readers either way, and holds storage only until
// the bucket's owner lists and aborts it.
func (m *multipart) abort(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = m.s.client.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: m.in.Bucket, Key: m.in.Key, UploadId: m.id})
}
