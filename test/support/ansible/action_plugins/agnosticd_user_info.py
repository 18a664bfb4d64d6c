# Test stand-in for AgnosticD's `agnosticd_user_info` action: it checks its arguments as AgnosticD's
# does, shows a lab-wide message the way AgnosticD shows it, and, instead of writing AgnosticD's
# user-info files, appends each call's arguments as one JSON line to $AGNOSTICD_USER_INFO_RECORD,
# so that a test can compare every call with what the old role sent.
from __future__ import annotations

import json
import os

from ansible.plugins.action import ActionBase

ARGUMENTS = ('msg', 'data', 'user', 'body')


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENTS)

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        args = self._task.args
        if args.get('msg') is not None and args.get('body') is not None:
            return {**result, 'failed': True, 'msg': 'msg and body are mutually exclusive'}
        if args.get('data') and not isinstance(args['data'], dict):
            return {**result, 'failed': True, 'msg': 'data must be a dictionary of name/value pairs'}
        if not args.get('user'):
            if args.get('msg') is not None:
                result.update(msg=f"user.info: {args['msg']}", _ansible_verbose_always=True)
            elif args.get('body') is not None:
                result.update(msg=f"user.body: {args['body']}", _ansible_verbose_always=True)
        record = os.environ.get('AGNOSTICD_USER_INFO_RECORD')
        if not record:
            return {**result, 'failed': True, 'msg': 'AGNOSTICD_USER_INFO_RECORD names no file'}
        with open(record, 'a', encoding='utf-8') as lines:
            lines.write(json.dumps({name: args[name] for name in ARGUMENTS if name in args}) + '\n')
        return {**result, 'changed': False}
