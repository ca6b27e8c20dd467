# -*- coding: utf-8 -*-
# Copyright (c) ironclad.swarm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ironclad.swarm.audit_report: write the audit's report files on the controller, in this process.

The report is a controller artefact. Writing it with template/copy delegated to localhost starts one
local module process per file, and one more for the directory; this action writes them all from the
controller's own process, each through a temporary file renamed into place.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = dict(
    directory=dict(type='path', required=True),
    files=dict(type='dict', required=True),
    mode=dict(type='raw', default='0644'),
)


def file_mode(value):
    """'0644', 644 (octal digits) or 0o644 -> int; a clear error otherwise."""
    text = '%s' % value
    try:
        mode = int(text, 8)
    except ValueError:
        raise AnsibleActionFail("mode: '%s' is not an octal file mode: write it as a quoted string such as '0644'"
                                % text)
    if not 0 <= mode <= 0o7777:
        raise AnsibleActionFail("mode: '%s' is out of range: use '0000' to '7777'" % text)
    return mode


def write_reports(directory, files, mode):
    """Create the directory when missing and write each file by rename; the paths written, in order."""
    for name in files:
        if not name or os.path.basename(name) != name or name in ('.', '..'):
            raise AnsibleActionFail("files: '%s' is not a plain file name: give names only; the place is "
                                    "`directory`" % name)
    try:
        os.makedirs(directory, 0o755)
    except OSError:
        if not os.path.isdir(directory):
            raise AnsibleActionFail('directory: %s cannot be created (it exists as something else, or a parent is '
                                    'not writable): choose another audit_report_dir' % directory)
    written = []
    for name in sorted(files):
        path = os.path.join(directory, name)
        handle, temporary = tempfile.mkstemp(prefix='.%s.' % name, dir=directory)
        try:
            with os.fdopen(handle, 'wb') as out:
                out.write(to_bytes(files[name] if files[name] is not None else ''))
            os.chmod(temporary, mode)
            os.rename(temporary, path)
        except (IOError, OSError) as error:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise AnsibleActionFail('%s cannot be written: %s' % (path, to_native(error)))
        written.append(path)
    return written


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        paths = write_reports(args['directory'], args['files'], file_mode(args['mode']))
        # A report describes the cluster; writing it changes nothing the run manages.
        result.update(changed=False, paths=paths)
        return result
