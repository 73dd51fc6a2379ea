package edge

import (
	"syscall"
	"unsafe"
)

// readable reports whether a read on fd would not block, without taking anything from it:
// a non-blocking one-byte MSG_PEEK. EOF and errors count as readable, so that the read that
// follows reports them.
func readable(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		return true
	}
}
