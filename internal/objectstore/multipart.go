package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
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
var partBuffers = &bufferPool{size: partSize, perStream: streamBuffers, idle: 30 * time.Second}

// headBuffers hold the first bytes of each streamed upload (putStream), enough
// for a whole small body; kept for as many uploads as tenant dumps may run at
// once. Not capped: they are small, and each is given back as soon as its
// body turned out to be longer (for a part buffer) or was stored.
var headBuffers = &bufferPool{size: headSize, keep: 32, idle: 30 * time.Second}

// headSize is the streamed body that is stored without a part buffer.
const headSize = 256 << 10

// streamBuffers is how many part buffers one upload holds: uploadConcurrency
// parts in flight while the next fills. An upload used to take its third
// buffer only when a part's upload outlasted filling the next one, and to
// reuse the two it had otherwise: a backup of more parts met such a stall
// more often, so its peak RSS grew with the database's size (74 MB at
// 1.6 GB, 96 MB at 6.3 GB). Now every upload of streamBuffers parts or more
// fills all of them in turn (multipart.send): the peak is the same however
// long the backup and however fast the store. (Two, always reached, would
// also be flat, but leave one part in flight while the next fills: a store
// slower per connection than PostgreSQL sends would then slow the backup.)
const streamBuffers = uploadConcurrency + 1

// ReserveStreams announces n more streams that may upload side by side in
// this process (a backup, each parallel tenant dump, each WAL push): part
// buffers are capped process-wide at streamBuffers per reserved stream
// (streamBuffers with none reserved), so an upload waits for a free buffer
// rather than allocating one. The returned function withdraws the
// reservation; call it once the streams are done.
func ReserveStreams(n int) (release func()) {
	partBuffers.reserve(n)
	var once sync.Once
	return func() { once.Do(func() { partBuffers.reserve(-n) }) }
}

// StreamBufferStats describes the part buffers of streamed uploads.
type StreamBufferStats struct {
	// InUse is the buffers taken by uploads now; Limit the cap on them.
	InUse, Limit int
	// Peak is the most taken at once since the last ResetStreamBufferPeak.
	Peak int
	// Allocated counts the buffers ever made (a reused one is not counted).
	Allocated int
	// Waits counts the takes that found the cap reached, and Waited is
	// their time spent waiting: what the cap cost the streams' producers.
	Waits  int
	Waited time.Duration
	// Size is one buffer's size in bytes.
	Size int
}

// StreamBuffers reports the part buffers of streamed uploads, for tests and
// benchmarks that check uploads' memory against its cap.
func StreamBuffers() StreamBufferStats { return partBuffers.stats() }

// ResetStreamBufferPeak starts StreamBuffers' Peak over from the buffers in
// use now.
func ResetStreamBufferPeak() {
	partBuffers.mu.Lock()
	defer partBuffers.mu.Unlock()
	partBuffers.peak = partBuffers.out
}

// bufferPool is a free list of equal buffers with a cap on those taken at
// once: perStream times the streams reserved (at least one), or none when
// perStream is 0. As many as the cap are kept (keep, without a cap), and
// all are dropped once none was taken for idle, so an
// agent between backups gives them back. (A sync.Pool keeps a buffer put on
// one core away from a Get on another: uploads kept allocating.)
//
// No deadlock: an upload waits for the pool only while it holds no buffer
// (its first); once it holds one, it takes the next either from the pool or
// from its own coming back from a part upload, whichever comes first, and a
// part upload returns its buffer whatever happens to the request. So every
// upload holding buffers moves on without needing another's.
type bufferPool struct {
	size, perStream, keep int
	idle                  time.Duration

	mu        sync.Mutex
	free      []*[]byte
	used      time.Time
	timer     *time.Timer
	out       int           // taken and not yet put back
	streams   int           // reserved streams
	peak      int           // most taken at once
	allocated int           // buffers made
	waits     int           // Gets that waited
	waited    time.Duration // their time waiting
	wake      chan struct{} // closed when a buffer comes back or the cap rises
}

// limit is the cap on buffers taken at once; mu must be held.
func (p *bufferPool) limit() int {
	if p.perStream == 0 {
		return math.MaxInt
	}
	return p.perStream * max(1, p.streams)
}

// Get takes a buffer, waiting while the cap is reached, until ctx is done.
func (p *bufferPool) Get(ctx context.Context) (*[]byte, error) {
	b, _, err := p.getOr(ctx, nil, true)
	return b, err
}

// getOr takes a buffer from the pool when grow is set and the cap allows,
// or else the first to arrive on own (an upload's buffers coming back from
// its part uploads); fromPool says which. Only a wait for the pool's cap
// counts as a wait: one for own is the upload's own pace.
func (p *bufferPool) getOr(ctx context.Context, own <-chan *[]byte, grow bool) (b *[]byte, fromPool bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var start time.Time
	defer func() {
		if !start.IsZero() {
			p.waited += time.Since(start)
		}
	}()
	for {
		if grow && p.out < p.limit() {
			return p.take(), true, nil
		}
		select {
		case b := <-own:
			return b, false, nil
		default:
		}
		var wake chan struct{}
		if grow {
			if start.IsZero() {
				p.waits++
				start = time.Now()
			}
			if p.wake == nil {
				p.wake = make(chan struct{})
			}
			wake = p.wake
		}
		p.mu.Unlock()
		select {
		case b = <-own:
		case <-wake:
		case <-ctx.Done():
			err = ctx.Err()
		}
		p.mu.Lock()
		if b != nil || err != nil {
			return b, false, err
		}
	}
}

// take hands out a free buffer or a new one; mu must be held, the cap
// checked.
func (p *bufferPool) take() *[]byte {
	p.out++
	p.peak = max(p.peak, p.out)
	p.used = time.Now()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	p.allocated++
	b := make([]byte, p.size)
	return &b
}

func (p *bufferPool) Put(b *[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out--
	if p.perStream == 0 && len(p.free) < p.keep || p.perStream > 0 && len(p.free)+p.out < p.limit() {
		p.free = append(p.free, b)
	}
	p.wakeLocked()
	if p.timer == nil {
		p.timer = time.AfterFunc(p.idle, p.trim)
	}
}

func (p *bufferPool) reserve(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.streams += n
	p.wakeLocked()
}

// wakeLocked lets every waiting Get look again; mu must be held.
func (p *bufferPool) wakeLocked() {
	if p.wake != nil {
		close(p.wake)
		p.wake = nil
	}
}

func (p *bufferPool) stats() StreamBufferStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return StreamBufferStats{InUse: p.out, Limit: p.limit(), Peak: p.peak, Allocated: p.allocated, Size: p.size, Waits: p.waits, Waited: p.waited}
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
// streamBuffers buffers per reserved stream, process-wide (ReserveStreams),
// reused across uploads. A failed
// upload is aborted, so no partial object ever becomes visible.
func (s *S3) putStream(ctx context.Context, key string, body io.Reader, opts PutOptions, in *s3.PutObjectInput) (ObjectInfo, error) {
	// The first bytes go to a small buffer: a body that ends within it (a
	// tenant dump of a small database, a manifest) never takes a part
	// buffer. With many such uploads at once (tenant dumps run up to 32
	// side by side) the part pool, which kept uploadConcurrency+1, was
	// empty and each upload zeroed a fresh 16 MiB for a few kilobytes.
	head, err := headBuffers.Get(ctx)
	if err != nil {
		return ObjectInfo{}, err
	}
	n, err := io.ReadFull(body, *head)
	var first *[]byte
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		first = head
		defer headBuffers.Put(head)
	case err == nil:
		if first, err = partBuffers.Get(ctx); err != nil {
			headBuffers.Put(head)
			return ObjectInfo{}, fmt.Errorf("put s3://%s/%s: waiting for a part buffer: %w", s.bucket, key, err)
		}
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
// returns the object's size. The reader fills the next buffer while parts
// are in flight (at most uploadConcurrency, and as many as the free
// buffers allow); a failed part stops the reading.
func (m *multipart) send(ctx context.Context, body io.Reader, first *[]byte, n int) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	// The upload's buffers come back here from their part uploads, for
	// the next parts; all go back to the pool at the end. hand is the one
	// the reader holds (being filled), in neither a part upload nor own.
	own := make(chan *[]byte, streamBuffers)
	held, hand := 1, first
	work := make(chan uploadPart)
	var wg sync.WaitGroup
	workClosed := false
	defer func() {
		// Also when reading the body panicked: the part uploads are
		// stopped and waited for, and the buffer in hand counted, so
		// every buffer held is back in own. (Waiting for all of them
		// without the one in hand hung the upload for ever instead of
		// letting the panic end the process.)
		cancel()
		if !workClosed {
			close(work)
		}
		wg.Wait()
		if hand != nil {
			own <- hand
		}
		for range held {
			partBuffers.Put(<-own)
		}
	}()
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
				own <- p.buf
			}
		}()
	}
	size := int64(n)
	work <- uploadPart{buf: first, n: n, num: 1}
	hand = nil
	for num := int32(2); m.failed() == nil; num++ {
		// A new buffer while the upload holds fewer than streamBuffers,
		// so each of them is filled (the same peak whatever the timing);
		// then, or at the process's cap, the first of its own back.
		buf, fromPool, err := partBuffers.getOr(ctx, own, held < streamBuffers)
		if err != nil {
			m.fail(fmt.Errorf("put s3://%s/%s: waiting for a part buffer: %w", m.s.bucket, aws.ToString(m.in.Key), err))
			break
		}
		if fromPool {
			held++
		}
		hand = buf
		n, err := io.ReadFull(body, *buf)
		end := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !end {
			m.fail(fmt.Errorf("put s3://%s/%s: reading the body: %w", m.s.bucket, aws.ToString(m.in.Key), err))
		}
		if n == 0 || m.failed() != nil {
			break
		}
		if num > maxUploadParts {
			m.fail(fmt.Errorf("put s3://%s/%s: the body is larger than %d parts of %d bytes", m.s.bucket, aws.ToString(m.in.Key), maxUploadParts, partSize))
			break
		}
		size += int64(n)
		work <- uploadPart{buf: buf, n: n, num: num}
		hand = nil
		if end {
			break
		}
	}
	close(work)
	workClosed = true
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
