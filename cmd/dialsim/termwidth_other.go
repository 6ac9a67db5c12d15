//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package main

import "os"

// termWidth returns 0: the terminal's width is not known on this system.
func termWidth(*os.File) int { return 0 }
