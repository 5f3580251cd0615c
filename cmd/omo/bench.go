package main

import "context"

func runBench(ctx context.Context, args []string, env *runEnv) error {
	return usageError{"omo bench: not built yet"}
}
