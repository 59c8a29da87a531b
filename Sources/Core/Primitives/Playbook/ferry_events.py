# Ferry's stdout callback for ansible-playbook: one JSON object a line on standard
# output, read by ansible.playbook as it comes (Sources/Core/Primitives/Playbook).
# Ferry writes this file into a private directory and names it through
# ANSIBLE_CALLBACK_PLUGINS / ANSIBLE_STDOUT_CALLBACK=ferry_events; it is not installed.
from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = '''
    name: ferry_events
    type: stdout
    short_description: one JSON event a line, for Ferry
    description:
      - Plays, tasks, each host's result of each task and the final stats, one JSON object a line.
'''

import json
import sys

from ansible.plugins.callback import CallbackBase

MAX_MESSAGE = 2000


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'ferry_events'

    def _emit(self, **event):
        sys.stdout.write(json.dumps(event, default=str, sort_keys=True) + "\n")
        sys.stdout.flush()

    def _message(self, result):
        r = result._result
        if r.get('_ansible_no_log') or result._task.no_log:
            return "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
        parts = []
        for key in ('msg', 'reason', 'stderr', 'module_stderr'):
            value = r.get(key)
            if value:
                parts.append(value if isinstance(value, str) else json.dumps(value, default=str))
        if not parts and r.get('results'):
            failed = [i for i in r['results'] if isinstance(i, dict) and i.get('failed')]
            for item in failed[:3]:
                parts.append("item %s: %s" % (item.get('item'), item.get('msg') or item.get('stderr') or 'failed'))
        text = "; ".join(p.strip() for p in parts if p.strip())
        return text[:MAX_MESSAGE]

    def _result(self, result, status):
        r = result._result
        event = dict(event="result", host=result._host.get_name(), task=result._task.get_name(), status=status,
                     changed=bool(r.get('changed')))
        if status in ('failed', 'unreachable', 'ignored'):
            event['msg'] = self._message(result)
            if isinstance(r.get('rc'), int):
                event['rc'] = r['rc']
        self._emit(**event)

    def v2_playbook_on_start(self, playbook):
        self._emit(event="playbook", file=playbook._file_name)

    def v2_playbook_on_play_start(self, play):
        self._emit(event="play", name=play.get_name())

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._emit(event="task", name=task.get_name())

    def v2_playbook_on_handler_task_start(self, task):
        self._emit(event="task", name=task.get_name(), handler=True)

    def v2_playbook_on_no_hosts_matched(self):
        self._emit(event="no_hosts")

    def v2_runner_on_ok(self, result):
        self._result(result, "changed" if result._result.get('changed') else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        for h in sorted(stats.processed.keys()):
            hosts[h] = stats.summarize(h)
        self._emit(event="stats", hosts=hosts)
