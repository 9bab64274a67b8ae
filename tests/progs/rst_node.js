// SPDX-License-Identifier: MIT
// Restart test: a Node.js program (see rst_common.h for the protocol).
//   node rst_node.js RESULT CTL
// libuv's loop (epoll, eventfds, pipes) runs a setInterval state machine
// (0 -> 1 -> 2 -> 0 ...), a chain of setTimeouts, and pbkdf2 jobs on the
// libuv worker pool, each started by the previous one's callback and
// checked against a synchronous computation.  The trigger is polled on the
// control FIFO (non-blocking).  After the restart all three must go on,
// and nothing may have gone wrong.
'use strict';
const fs = require('fs');
const crypto = require('crypto');

const [resPath, ctlPath] = process.argv.slice(2);
const log = [];
function say(line) {
	log.push(line);
	fs.writeFileSync(resPath + '.tmp', log.join('\n') + '\n');
	fs.renameSync(resPath + '.tmp', resPath);
}

const ctl = fs.openSync(ctlPath, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
const next = [1, 2, 0];
const s = { state: 0, steps: 0, bad: 0, jobs: 0, jobBad: 0, timeouts: 0 };

setInterval(() => {
	const n = next[s.state];
	if (n === undefined)
		s.bad++;
	s.state = n;
	s.steps++;
}, 10);

function job(i) {
	crypto.pbkdf2('pw' + i, 'salt', 2000, 32, 'sha256', (err, key) => {
		const want = crypto.pbkdf2Sync('pw' + i, 'salt', 2000, 32, 'sha256');
		if (err || !key.equals(want))
			s.jobBad++;
		s.jobs++;
		job(i + 1);
	});
}
job(0);

function timeout() {
	s.timeouts++;
	setTimeout(timeout, 15);
}
timeout();

let ready = false, checking = false;
setInterval(() => {
	if (!ready && s.steps > 5 && s.jobs > 2 && s.timeouts > 3) {
		ready = true;
		say('READY ' + process.pid);
	}
	if (!ready || checking)
		return;
	const b = Buffer.alloc(16);
	let n = 0;
	try {
		n = fs.readSync(ctl, b, 0, 16, null);
	} catch (e) {
		if (e.code !== 'EAGAIN')
			throw e;
	}
	if (n <= 0)
		return;
	checking = true;
	const t0 = { ...s };
	setTimeout(() => {
		const d = `${s.steps - t0.steps} steps, ${s.jobs - t0.jobs} pool jobs, ` +
			  `${s.timeouts - t0.timeouts} timeouts`;
		if (s.steps - t0.steps < 10 || s.jobs - t0.jobs < 2 || s.timeouts - t0.timeouts < 5 ||
		    s.bad || s.jobBad) {
			say(`FAIL: after the trigger ${d}; ${s.bad} bad steps, ${s.jobBad} bad jobs`);
			process.exit(1);
		}
		say(`PASS node: ${d} after the restart (${s.steps} steps, ${s.jobs} jobs in all)`);
		process.exit(0);
	}, 600);
}, 20);
