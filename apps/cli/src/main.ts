#!/usr/bin/env node
/**
 * The `switchyard` command: parses the command line, runs it, exits with a status that means
 * something (see ExitCode).
 */
import { runCli } from './program.ts';

const io = {
  out: (text: string) => process.stdout.write(`${text}\n`),
  err: (text: string) => process.stderr.write(`${text}\n`),
};

runCli(process.argv.slice(2), io, process.env).then((code) => {
  process.exitCode = code;
});
