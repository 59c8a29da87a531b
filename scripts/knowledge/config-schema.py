#!/usr/bin/env python3
"""Writes the config schema of one project at one release: every (file, section, option) the
project's code registers through its `oslo.config.opts` entry points, the namespaces each of its
oslo-config-generator files names (read from the project's source at the installed version's
tag), with deprecated names and the options of keystoneauth1's auth plugins in the sections that
load one (`auth_type`). It must run in a virtualenv that has the project installed (the
releases service's: ~/.cache/ferry/releases/<release>-py3.6.15-*/, see
scripts/testenv/services/releases.sh), with Python 3.6 or later.

Usage (the schema files under Sources/Plugins/<Component>/Schemas/ are made this way):
  ~/.cache/ferry/releases/queens-py3.6.15-*/bin/python scripts/knowledge/config-schema.py \\
      --release queens --project nova --mirror /work/.mirror > Sources/Plugins/Nova/Schemas/nova-queens.txt

--mirror DIR holds openstack+<project>/repo (a `git clone --mirror` of openstack/<project>), where
the generator files are read at the tag of the installed version (`pip show <project>`).

The output, one line each:
  @file NAME            a config file (the generator file's name: nova.conf, openvswitch_agent.ini)
  [section]             a section of it (DEFAULT included)
  option                an option registered in that section
  option ~              an option of a keystoneauth1 auth plugin (registered per auth_type at start)
  option < group/name   a deprecated name: oslo.config reads it as group/name
  option -              deprecated for removal (still read)
"""
import argparse
import os
import subprocess
import sys

# Per project: (config file, generator file in the project's tree). Paths as of the releases
# this runs for (Ocata–Queens); nova's and keystone's moved later.
GENERATORS = {
    "nova": [("nova.conf", "etc/nova/nova-config-generator.conf")],
    "cinder": [("cinder.conf", "tools/config/cinder-config-generator.conf")],  # cinder/config/ before Queens
    "glance": [("glance-api.conf", "etc/oslo-config-generator/glance-api.conf")],
    "keystone": [("keystone.conf", "config-generator/keystone.conf")],
    "neutron": [(f, "etc/oslo-config-generator/" + f) for f in
                ("neutron.conf", "ml2_conf.ini", "openvswitch_agent.ini", "dhcp_agent.ini", "l3_agent.ini",
                 "metadata_agent.ini")],
}


# Where a generator file lived earlier (tried when the path above is not at the tag).
EARLIER = {"tools/config/cinder-config-generator.conf": "cinder/config/cinder-config-generator.conf"}


def git_show(repo, tag, path):
    if path in EARLIER and not git_has(repo, tag, path):
        path = EARLIER[path]
    p = subprocess.Popen(["git", "-C", repo, "show", "%s:%s" % (tag, path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True)
    out, err = p.communicate()
    if p.returncode != 0:
        sys.exit("config-schema: %s: git show %s:%s failed: %s" % (repo, tag, path, err.strip()))
    return out


def git_has(repo, tag, path):
    return subprocess.call(["git", "-C", repo, "cat-file", "-e", "%s:%s" % (tag, path)], stderr=subprocess.DEVNULL) == 0


def generator_path(repo, tag, path):
    return EARLIER[path] if path in EARLIER and not git_has(repo, tag, path) else path


def namespaces(text):
    out = []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "namespace":
            out.append(value.strip())
    return out


def version(dist):
    import pkg_resources
    return pkg_resources.get_distribution(dist).version


def auth_plugin_options():
    """Every option any auth plugin of the installed keystoneauth1 registers once auth_type names it."""
    from keystoneauth1 import loading
    names = set()
    for name in loading.get_available_plugin_names():
        try:
            for o in loading.get_plugin_options(name):
                names.add(o.dest)
        except Exception:  # a plugin whose dependency is not installed: its options stay unknown
            continue
    return names


def group_name(group):
    if group is None:
        return "DEFAULT"
    return getattr(group, "name", group) or "DEFAULT"


def schema(spaces):
    from oslo_config import generator
    sections = {}  # section -> {option: marker}
    for _namespace, listing in generator._list_opts(spaces):
        for group, opts in listing:
            section = sections.setdefault(group_name(group), {})
            for opt in opts:
                section[opt.dest] = " -" if getattr(opt, "deprecated_for_removal", False) else ""
                for d in getattr(opt, "deprecated_opts", None) or []:
                    dname = (d.name or opt.dest).replace("-", "_")
                    dgroup = d.group or group_name(group)
                    if dname == opt.dest and dgroup == group_name(group):
                        continue
                    sections.setdefault(dgroup, {}).setdefault(dname, " < %s/%s" % (group_name(group), opt.dest))
    plugin = None
    for section in sections.values():
        if "auth_type" in section:
            plugin = auth_plugin_options() if plugin is None else plugin
            for name in plugin:
                section.setdefault(name, " ~")
    return sections


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--release", required=True)
    ap.add_argument("--project", required=True, choices=sorted(GENERATORS))
    ap.add_argument("--mirror", required=True)
    a = ap.parse_args()
    # cinder 12.0.x's volume/drivers/infinidat.py imports the `mock` package at module level (a test
    # dependency the release's install does not bring); cinder's opts import every driver, so without
    # it no option lists. The standard library's unittest.mock is the same API.
    if a.project == "cinder" and "mock" not in sys.modules:
        try:
            import mock  # noqa: F401
        except ImportError:
            import unittest.mock
            sys.modules["mock"] = unittest.mock
    repo = os.path.join(a.mirror, "openstack+%s" % a.project, "repo")
    tag = version(a.project)
    venv = os.path.basename(os.path.normpath(sys.prefix))
    out = [
        "# Config schema of %s %s (%s): what its oslo.config.opts namespaces register." % (a.project, tag, a.release),
        "# Generated by scripts/knowledge/config-schema.py --release %s --project %s --mirror DIR" % (a.release, a.project),
        "# in the virtualenv ~/.cache/ferry/releases/%s (oslo.config %s, keystoneauth1 %s, keystonemiddleware %s)"
        % (venv, version("oslo.config"), version("keystoneauth1"), version("keystonemiddleware")),
        "# Lines: @file NAME; [section]; option; 'option ~' a keystoneauth1 auth plugin's option (per auth_type);",
        "# 'option < group/name' a deprecated name read as group/name; 'option -' deprecated for removal.",
    ]
    for conf, path in GENERATORS[a.project]:
        spaces = namespaces(git_show(repo, tag, path))
        out.append("# %s: openstack/%s@%s %s: %s" % (conf, a.project, tag, generator_path(repo, tag, path), " ".join(spaces)))
    files = []
    for conf, path in GENERATORS[a.project]:
        files.append((conf, schema(namespaces(git_show(repo, tag, path)))))
    import unittest.mock
    if sys.modules.get("mock") is unittest.mock:
        out.append("# (the `mock` package was not installed: unittest.mock stood in for it while the drivers were imported)")
    for conf, sections in files:
        out.append("@file " + conf)
        for section in sorted(sections, key=lambda s: (s != "DEFAULT", s)):
            out.append("[%s]" % section)
            for name in sorted(sections[section]):
                out.append(name + sections[section][name])
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
