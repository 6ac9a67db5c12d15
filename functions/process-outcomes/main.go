// Command process-outcomes is the process-outcomes Lambda function of Outdial; see
// template.yaml for its trigger and permissions.
package main

import "github.com/outdial/outdial/internal/app"

func main() { app.Start("process-outcomes") }
