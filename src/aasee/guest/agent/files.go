package main

// get: facts about a guest path (lstat) and, for a regular file only, up to cap bytes of
// it. The bytes go out as FILE frames tagged with the request id before the reply, which
// says how many were sent and their SHA-256.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// O_NOFOLLOW: a symlink as the last component is reported, never read through. O_NONBLOCK:
// a FIFO or device swapped in after the lstat cannot block the open; fstat then refuses it.
const getFlags = syscall.O_RDONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_NOCTTY | syscall.O_CLOEXEC

func fileKind(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "file"
	case syscall.S_IFDIR:
		return "directory"
	case syscall.S_IFLNK:
		return "symlink"
	case syscall.S_IFIFO:
		return "fifo"
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR:
		return "char"
	case syscall.S_IFBLK:
		return "block"
	}
	return "other"
}

func (a *agent) opGet(payload []byte) (map[string]any, error) {
	var req struct {
		ID   json.RawMessage `json:"id"`
		Path *string         `json:"path"`
		Cap  *int64          `json:"cap"`
	}
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	var rid uint32
	if err := json.Unmarshal(req.ID, &rid); err != nil {
		return nil, errors.New("id must be an integer between 0 and 2^32-1")
	}
	if req.Path == nil || req.Cap == nil {
		return nil, errors.New("get needs path and cap")
	}
	path, limit := *req.Path, *req.Cap
	if !strings.HasPrefix(path, "/") || strings.ContainsRune(path, 0) {
		return nil, errors.New("path must be absolute and free of NUL bytes")
	}
	if limit < 0 {
		limit = 0
	} else if limit > maxGetBytes {
		limit = maxGetBytes
	}
	digest := sha256.New()
	facts := map[string]any{"path": path, "sent": 0, "truncated": false}
	var before syscall.Stat_t
	if err := syscall.Lstat(path, &before); err != nil {
		if err == syscall.ENOENT || err == syscall.ENOTDIR {
			facts["exists"], facts["kind"], facts["size"], facts["mode"] = false, "missing", 0, 0
			facts["sha256"] = hex.EncodeToString(digest.Sum(nil))
			return facts, nil
		}
		return nil, &pathError{"lstat", path, err}
	}
	kind := fileKind(before.Mode)
	facts["exists"], facts["kind"] = true, kind
	facts["size"], facts["mode"] = before.Size, before.Mode&0o7777
	if kind != "file" {
		facts["sha256"] = hex.EncodeToString(digest.Sum(nil))
		return facts, nil
	}
	fd, err := syscall.Open(path, getFlags, 0)
	if err != nil {
		return nil, &pathError{"open", path, err}
	}
	defer syscall.Close(fd)
	var now syscall.Stat_t
	if err := syscall.Fstat(fd, &now); err != nil {
		return nil, &pathError{"fstat", path, err}
	}
	if uint64(now.Dev) != uint64(before.Dev) || now.Ino != before.Ino || now.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf("%s was replaced while being opened", path)
	}
	facts["size"], facts["mode"] = now.Size, now.Mode&0o7777
	var sent int64
	buf := make([]byte, dataChunk)
	for sent < limit {
		want := int64(len(buf))
		if limit-sent < want {
			want = limit - sent
		}
		n, err := readFD(fd, buf[:want])
		if err != nil {
			return nil, &pathError{"read", path, err}
		}
		if n == 0 {
			break
		}
		digest.Write(buf[:n])
		a.link.send(fileFrame(rid, buf[:n]))
		sent += int64(n)
	}
	// More bytes beyond the cap: the file grew, or was larger than asked for.
	truncated := false
	if sent >= limit {
		n, err := readFD(fd, buf[:1])
		if err != nil {
			return nil, &pathError{"read", path, err}
		}
		truncated = n > 0
	}
	facts["sent"], facts["truncated"] = sent, truncated
	facts["sha256"] = hex.EncodeToString(digest.Sum(nil))
	return facts, nil
}
