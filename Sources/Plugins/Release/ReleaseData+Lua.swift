import LuaBridge

/// The release data as Lua sees it (`release.steps`, the component modules).
extension OpenStackRelease {
    var luaValue: LuaValue {
        var m: [String: LuaValue] = [
            "name": .string(name), "series": .string(series), "number": .int(Int64(number)),
            "released": .string(released), "slurp": .bool(slurp),
        ]
        if let id { m["id"] = .string(id) }
        return .map(m)
    }
}

extension ReleaseStep {
    var luaValue: LuaValue {
        var m: [String: LuaValue] = [
            "component": .string(component), "release": .string(release),
            "commands": .array(commands.map(\.luaValue)),
            "api_removals": .array(apiRemovals.map { .string($0) }),
            "endpoints": .array(endpoints.map(\.luaValue)),
            "notes": .array(notes.map { .string($0) }),
            "required_stop": .bool(requiredStop != nil),
        ]
        if let requiredStop { m["why_stop"] = .string(requiredStop) }
        return .map(m)
    }
}

extension ManageCommand {
    var luaValue: LuaValue {
        var m: [String: LuaValue] = [
            "argv": .array(argv.map { .string($0) }), "purpose": .string(purpose), "text": .string(text),
            "options": .array(options.map { .map(["flag": .string($0.flag), "parameter": .string($0.parameter)]) }),
        ]
        if let tool { m["tool"] = .string(tool) }
        if let odm = onlineMigrations {
            var o: [String: LuaValue] = [
                "max_count_flag": .string(odm.maxCountFlag), "default_max_count": .int(Int64(odm.defaultMaxCount)),
                "exit_codes": .map(Dictionary(uniqueKeysWithValues: odm.exitCodes.map { (String($0.key), LuaValue.string($0.value)) })),
            ]
            if let r = odm.requiredBefore { o["required_before"] = .string(r) }
            if let f = odm.failureText { o["failure_text"] = .string(f) }
            if let p = odm.progressPattern { o["progress_pattern"] = .string(p) }
            m["online_migrations"] = .map(o)
        }
        if let c = completion {
            m["completion"] = .map(["patterns": .array(c.patterns.map { .string($0) }), "incomplete": .string(c.incomplete)])
        }
        return .map(m)
    }
}

extension EndpointSpec {
    var luaValue: LuaValue {
        .map([
            "service": .string(serviceName), "type": .string(serviceType), "port": .int(Int64(port)), "path": .string(path),
            "why": .string(why), "guide_url": .string(guideURL),
        ])
    }
}

extension ComponentKnowledge {
    var servicesLuaValue: LuaValue {
        .array(services.map { s in
            var m: [String: LuaValue] = ["role": .string(s.role), "placement": .string(s.placement)]
            if let r = s.rpm { m["rpm"] = .string(r) }
            if let d = s.deb { m["deb"] = .string(d) }
            if let f = s.from { m["from"] = .string(f) }
            if let u = s.until { m["until"] = .string(u) }
            return .map(m)
        })
    }
}
