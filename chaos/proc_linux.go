package chaos

import "syscall"

// sysProcAttr makes the child die with the process that started it, so an
// interrupted suite leaves nothing listening.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
