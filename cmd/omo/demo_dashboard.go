package main

import "fmt"

// dashboard ends the demo with where its dashboard is and how to log in;
// with keep it serves it (and everything else omo runs) until the demo's
// context ends: Ctrl-C.
func (d *demo) dashboard(keep bool) error {
	fmt.Fprintf(d.out, "\nThe dashboard\n  %s/admin/  log in with the admin token %s\n", d.app.URL(), demoAdminToken)
	if !keep {
		fmt.Fprintln(d.out, "  (run omo demo -keep to keep omo running with this data and look at it)")
		return nil
	}
	fmt.Fprintln(d.out, "  omo keeps running with the demo's data; Ctrl-C to stop")
	<-d.ctx.Done()
	fmt.Fprintln(d.out, "stopped")
	return nil
}
