using Google.Protobuf;
using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Model;

/// <summary>
/// Services and task templates between the protobuf object model and Docker's JSON. The mapping is lossless for
/// every field Docker defines, so a spec read with <c>insertDefaults=false</c> and posted back to update is stored
/// unchanged (DESIGN §4: the stored spec is the user's). The only values filled in are the ones Docker's client needs
/// to read back: a replicated service's replica count (1) and a replicated job's concurrency and completions.
/// </summary>
public static class ServiceMapping
{
    /// <summary>The Docker view of a stored service, with its task counts when <paramref name="status"/> is given.</summary>
    public static Service ToDocker(Proto.Service service, Proto.ServiceStatus? status = null)
    {
        ArgumentNullException.ThrowIfNull(service);
        var endpoint = service.Endpoint;
        return new Service
        {
            ID = service.Id,
            Version = new ObjectVersion { Index = service.Meta?.Version ?? 0 },
            CreatedAt = service.Meta?.CreatedAt?.ToDateTimeOffset(),
            UpdatedAt = service.Meta?.UpdatedAt?.ToDateTimeOffset(),
            Spec = ToDocker(service.Spec ?? new Proto.ServiceSpec()),
            PreviousSpec = service.PreviousSpec is null ? null : ToDocker(service.PreviousSpec),
            Endpoint = new Endpoint
            {
                Spec = endpoint?.Spec is null ? new EndpointSpec() : ToDocker(endpoint.Spec),
                Ports = endpoint is null || endpoint.Ports.Count == 0 ? null : [.. endpoint.Ports.Select(ToDocker)],
                VirtualIPs = endpoint is null || endpoint.VirtualIps.Count == 0
                    ? null
                    : [.. endpoint.VirtualIps.Select(v => new EndpointVirtualIP { NetworkID = v.NetworkId, Addr = v.Addr })],
            },
            UpdateStatus = service.UpdateStatus is not { } update ? null : new UpdateStatus
            {
                State = UpdateStateName(update.State),
                StartedAt = update.StartedAt?.ToDateTimeOffset(),
                CompletedAt = update.CompletedAt?.ToDateTimeOffset(),
                Message = NodeMapping.EmptyAsNull(update.Message),
            },
            ServiceStatus = status is null ? null : new ServiceStatus
            {
                RunningTasks = status.RunningTasks,
                DesiredTasks = status.DesiredTasks,
                CompletedTasks = status.CompletedTasks,
            },
            JobStatus = JobStatusOf(service),
        };
    }

    /// <summary>The Docker view of a service spec. The registry credentials stored with it are never part of it.</summary>
    public static ServiceSpec ToDocker(Proto.ServiceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new ServiceSpec
        {
            Name = spec.Annotations?.Name ?? string.Empty,
            Labels = LabelsOf(spec.Annotations),
            TaskTemplate = ToDocker(spec.Task ?? new Proto.TaskSpec()),
            Mode = ModeOf(spec),
            UpdateConfig = spec.Update is null ? null : ToDocker(spec.Update),
            RollbackConfig = spec.Rollback is null ? null : ToDocker(spec.Rollback),
            Networks = spec.Networks.Count == 0 ? null : [.. spec.Networks.Select(ToDocker)],
            EndpointSpec = spec.Endpoint is null ? null : ToDocker(spec.Endpoint),
        };
    }

    /// <summary>
    /// The protobuf spec for a Docker service spec. <paramref name="registryAuth"/> is the request's
    /// <c>X-Registry-Auth</c> value, kept with the spec for the nodes that pull the image.
    /// </summary>
    /// <exception cref="DockerApiException">400 for a value Docker does not define (a mode, restart condition, mount
    /// type…), naming the field and the accepted values.</exception>
    public static Proto.ServiceSpec ToProto(ServiceSpec spec, string? registryAuth = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var proto = new Proto.ServiceSpec
        {
            Annotations = AnnotationsOf(spec.Name, spec.Labels),
            Task = ToProto(spec.TaskTemplate ?? new TaskSpec()),
            Update = spec.UpdateConfig is null ? null : ToProto(spec.UpdateConfig, "UpdateConfig"),
            Rollback = spec.RollbackConfig is null ? null : ToProto(spec.RollbackConfig, "RollbackConfig"),
            Endpoint = spec.EndpointSpec is null ? null : ToProto(spec.EndpointSpec),
        };
        proto.Networks.AddRange((spec.Networks ?? []).Select(ToProto));
        SetMode(proto, spec.Mode ?? new ServiceMode());
        if (!string.IsNullOrEmpty(registryAuth) && proto.Task.Container is { } container)
        {
            container.PullOptionsRegistryAuth = registryAuth;
        }

        return proto;
    }

    /// <summary>The Docker name of a service's mode, as the <c>mode</c> filter spells it.</summary>
    public static string ModeName(Proto.ServiceSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.ModeCase switch
        {
            Proto.ServiceSpec.ModeOneofCase.Global => "global",
            Proto.ServiceSpec.ModeOneofCase.ReplicatedJob => "replicated-job",
            Proto.ServiceSpec.ModeOneofCase.GlobalJob => "global-job",
            _ => "replicated",
        };
    }

    // -----------------------------------------------------------------------------------------------------
    // Mode, update config, endpoint

    private static ServiceMode ModeOf(Proto.ServiceSpec spec) => spec.ModeCase switch
    {
        Proto.ServiceSpec.ModeOneofCase.Global => new ServiceMode { Global = new GlobalService() },
        Proto.ServiceSpec.ModeOneofCase.GlobalJob => new ServiceMode { GlobalJob = new GlobalJob() },
        Proto.ServiceSpec.ModeOneofCase.ReplicatedJob => new ServiceMode
        {
            ReplicatedJob = new ReplicatedJob
            {
                MaxConcurrent = (ulong)Math.Max(0, spec.ReplicatedJob.MaxConcurrent),
                TotalCompletions = (ulong)Math.Max(0, spec.ReplicatedJob.TotalCompletions),
            },
        },
        Proto.ServiceSpec.ModeOneofCase.Replicated => new ServiceMode
        {
            Replicated = new ReplicatedService { Replicas = (ulong)Math.Max(0, spec.Replicated.Replicas) },
        },
        // A spec stored without a mode runs as one replica (the control API's default).
        _ => new ServiceMode { Replicated = new ReplicatedService { Replicas = 1 } },
    };

    private static void SetMode(Proto.ServiceSpec proto, ServiceMode mode)
    {
        var count = (mode.Replicated is null ? 0 : 1) + (mode.Global is null ? 0 : 1) + (mode.ReplicatedJob is null ? 0 : 1) + (mode.GlobalJob is null ? 0 : 1);
        if (count > 1)
        {
            throw DockerApiException.BadRequest("invalid Mode: set only one of Replicated, Global, ReplicatedJob and GlobalJob");
        }

        if (mode.Global is not null)
        {
            proto.Global = new Proto.GlobalService();
        }
        else if (mode.GlobalJob is not null)
        {
            proto.GlobalJob = new Proto.GlobalJob();
        }
        else if (mode.ReplicatedJob is { } job)
        {
            var maxConcurrent = Int64Of(job.MaxConcurrent ?? 1, "Mode.ReplicatedJob.MaxConcurrent");
            proto.ReplicatedJob = new Proto.ReplicatedJob
            {
                MaxConcurrent = maxConcurrent,
                TotalCompletions = job.TotalCompletions is { } total ? Int64Of(total, "Mode.ReplicatedJob.TotalCompletions") : maxConcurrent,
            };
        }
        else
        {
            // Docker: Replicated without Replicas, and no mode at all, mean one replica; stored explicitly.
            proto.Replicated = new Proto.ReplicatedService { Replicas = Int64Of(mode.Replicated?.Replicas ?? 1, "Mode.Replicated.Replicas") };
        }
    }

    private static JobStatus? JobStatusOf(Proto.Service service)
    {
        var isJob = service.Spec?.ModeCase is Proto.ServiceSpec.ModeOneofCase.ReplicatedJob or Proto.ServiceSpec.ModeOneofCase.GlobalJob;
        if (!isJob && service.JobStatus is null)
        {
            return null;
        }

        // The CLI dereferences JobStatus of a job: present even before the job first runs.
        return new JobStatus
        {
            JobIteration = new ObjectVersion { Index = service.JobStatus?.JobIteration ?? 0 },
            LastExecution = service.JobStatus?.LastExecution?.ToDateTimeOffset(),
        };
    }

    private static UpdateConfig ToDocker(Proto.UpdateConfig config) => new()
    {
        Parallelism = (ulong)Math.Max(0, config.Parallelism),
        Delay = Nanos(config.Delay),
        FailureAction = config.FailureAction switch
        {
            Proto.FailureAction.Pause => FailureActions.Pause,
            Proto.FailureAction.Continue => FailureActions.Continue,
            Proto.FailureAction.Rollback => FailureActions.Rollback,
            _ => null,
        },
        Monitor = Nanos(config.Monitor),
        MaxFailureRatio = config.MaxFailureRatio,
        Order = config.Order switch
        {
            Proto.UpdateOrder.StopFirst => UpdateOrders.StopFirst,
            Proto.UpdateOrder.StartFirst => UpdateOrders.StartFirst,
            _ => string.Empty,
        },
    };

    private static Proto.UpdateConfig ToProto(UpdateConfig config, string field) => new()
    {
        Parallelism = Int64Of(config.Parallelism, field + ".Parallelism"),
        Delay = DurationOf(config.Delay),
        FailureAction = config.FailureAction switch
        {
            null or "" => Proto.FailureAction.Unspecified,
            FailureActions.Pause => Proto.FailureAction.Pause,
            FailureActions.Continue => Proto.FailureAction.Continue,
            FailureActions.Rollback => Proto.FailureAction.Rollback,
            var other => throw Invalid(field + ".FailureAction", other, "\"pause\", \"continue\" or \"rollback\""),
        },
        Monitor = DurationOf(config.Monitor),
        MaxFailureRatio = config.MaxFailureRatio,
        Order = config.Order switch
        {
            null or "" => Proto.UpdateOrder.Unspecified,
            UpdateOrders.StopFirst => Proto.UpdateOrder.StopFirst,
            UpdateOrders.StartFirst => Proto.UpdateOrder.StartFirst,
            var other => throw Invalid(field + ".Order", other, "\"stop-first\" or \"start-first\""),
        },
    };

    private static EndpointSpec ToDocker(Proto.EndpointSpec spec) => new()
    {
        Mode = spec.Mode == Proto.ResolutionMode.Dnsrr ? "dnsrr" : "vip",
        Ports = spec.Ports.Count == 0 ? null : [.. spec.Ports.Select(ToDocker)],
    };

    private static Proto.EndpointSpec ToProto(EndpointSpec spec)
    {
        var proto = new Proto.EndpointSpec
        {
            Mode = spec.Mode switch
            {
                null or "" or "vip" => Proto.ResolutionMode.Vip,
                "dnsrr" => Proto.ResolutionMode.Dnsrr,
                var other => throw Invalid("EndpointSpec.Mode", other, "\"vip\" or \"dnsrr\""),
            },
        };
        proto.Ports.AddRange((spec.Ports ?? []).Select(ToProto));
        return proto;
    }

    /// <summary>The Docker view of a port (service endpoints and host-mode task ports).</summary>
    public static PortConfig ToDocker(Proto.PortConfig port)
    {
        ArgumentNullException.ThrowIfNull(port);
        return new PortConfig
        {
            Name = NodeMapping.EmptyAsNull(port.Name),
            Protocol = port.Protocol switch
            {
                Proto.PortProtocol.Udp => "udp",
                Proto.PortProtocol.Sctp => "sctp",
                _ => "tcp",
            },
            TargetPort = port.TargetPort,
            PublishedPort = port.PublishedPort,
            PublishMode = port.PublishMode == Proto.PublishMode.Host ? "host" : "ingress",
        };
    }

    private static Proto.PortConfig ToProto(PortConfig port) => new()
    {
        Name = port.Name ?? string.Empty,
        Protocol = port.Protocol switch
        {
            null or "" or "tcp" => Proto.PortProtocol.Tcp,
            "udp" => Proto.PortProtocol.Udp,
            "sctp" => Proto.PortProtocol.Sctp,
            var other => throw Invalid("EndpointSpec.Ports.Protocol", other, "\"tcp\", \"udp\" or \"sctp\""),
        },
        TargetPort = port.TargetPort,
        PublishedPort = port.PublishedPort,
        PublishMode = port.PublishMode switch
        {
            null or "" or "ingress" => Proto.PublishMode.Ingress,
            "host" => Proto.PublishMode.Host,
            var other => throw Invalid("EndpointSpec.Ports.PublishMode", other, "\"ingress\" or \"host\""),
        },
    };

    private static string? UpdateStateName(Proto.UpdateState state) => state switch
    {
        Proto.UpdateState.Updating => UpdateStates.Updating,
        Proto.UpdateState.Paused => UpdateStates.Paused,
        Proto.UpdateState.Completed => UpdateStates.Completed,
        Proto.UpdateState.RollbackStarted => UpdateStates.RollbackStarted,
        Proto.UpdateState.RollbackPaused => UpdateStates.RollbackPaused,
        Proto.UpdateState.RollbackCompleted => UpdateStates.RollbackCompleted,
        _ => null,
    };

    // -----------------------------------------------------------------------------------------------------
    // Task template

    /// <summary>The Docker view of a task template (a service's <c>TaskTemplate</c>, a task's <c>Spec</c>).</summary>
    public static TaskSpec ToDocker(Proto.TaskSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new TaskSpec
        {
            ContainerSpec = spec.Container is null ? null : ToDocker(spec.Container),
            PluginSpec = spec.Plugin is not { } plugin ? null : new PluginSpec
            {
                Name = NodeMapping.EmptyAsNull(plugin.Name),
                Remote = NodeMapping.EmptyAsNull(plugin.Remote),
                Privileges = plugin.Privileges.Count == 0 ? null : [.. plugin.Privileges.Select(p => new PluginPrivilege
                {
                    Name = NodeMapping.EmptyAsNull(p.Name),
                    Description = NodeMapping.EmptyAsNull(p.Description),
                    Value = ListOrNull(p.Value),
                })],
                Disabled = plugin.Disabled,
                Env = ListOrNull(plugin.Env),
            },
            NetworkAttachmentSpec = spec.Attachment is null ? null : new NetworkAttachmentSpec { ContainerID = NodeMapping.EmptyAsNull(spec.Attachment.ContainerId) },
            Resources = spec.Resources is not { } resources ? null : new ResourceRequirements
            {
                Limits = resources.Limits is not { } limits ? null : new Limit { NanoCPUs = limits.NanoCpus, MemoryBytes = limits.MemoryBytes, Pids = limits.Pids },
                Reservations = resources.Reservations is not { } reservations ? null : new Resources
                {
                    NanoCPUs = reservations.NanoCpus,
                    MemoryBytes = reservations.MemoryBytes,
                    GenericResources = GenericResourcesOf(reservations.Generic),
                },
            },
            RestartPolicy = spec.Restart is not { } restart ? null : new RestartPolicy
            {
                Condition = restart.Condition switch
                {
                    Proto.RestartCondition.None => RestartConditions.None,
                    Proto.RestartCondition.OnFailure => RestartConditions.OnFailure,
                    Proto.RestartCondition.Any => RestartConditions.Any,
                    _ => null,
                },
                Delay = Nanos(restart.Delay),
                MaxAttempts = restart.HasMaxAttempts ? (ulong)Math.Max(0, restart.MaxAttempts) : null,
                Window = Nanos(restart.Window),
            },
            Placement = spec.Placement is not { } placement ? null : new Placement
            {
                Constraints = ListOrNull(placement.Constraints),
                Preferences = placement.Preferences.Count == 0 ? null : [.. placement.Preferences.Select(p => new PlacementPreference
                {
                    Spread = p.Spread is null ? null : new SpreadOver { SpreadDescriptor = p.Spread.SpreadDescriptor },
                })],
                MaxReplicas = (ulong)Math.Max(0, placement.MaxReplicas),
                Platforms = placement.Platforms.Count == 0 ? null : [.. placement.Platforms.Select(p => new Platform
                {
                    Architecture = NodeMapping.EmptyAsNull(p.Architecture),
                    OS = NodeMapping.EmptyAsNull(p.Os),
                })],
            },
            Networks = spec.Networks.Count == 0 ? null : [.. spec.Networks.Select(ToDocker)],
            LogDriver = spec.LogDriver is null ? null : DriverOf(spec.LogDriver.Name, spec.LogDriver.Options),
            ForceUpdate = spec.ForceUpdate,
            Runtime = NodeMapping.EmptyAsNull(spec.RuntimeName),
        };
    }

    /// <summary>The protobuf task template for a Docker one.</summary>
    /// <exception cref="DockerApiException">400 for a value Docker does not define.</exception>
    public static Proto.TaskSpec ToProto(TaskSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var runtimes = (spec.ContainerSpec is null ? 0 : 1) + (spec.PluginSpec is null ? 0 : 1) + (spec.NetworkAttachmentSpec is null ? 0 : 1);
        if (runtimes > 1)
        {
            throw DockerApiException.BadRequest("invalid TaskTemplate: ContainerSpec, PluginSpec and NetworkAttachmentSpec are mutually exclusive");
        }

        if (spec.Runtime is not (null or "" or "container" or "plugin" or "attachment"))
        {
            throw Invalid("TaskTemplate.Runtime", spec.Runtime, "\"container\", \"plugin\" or \"attachment\"");
        }

        var proto = new Proto.TaskSpec
        {
            ForceUpdate = spec.ForceUpdate,
            RuntimeName = spec.Runtime ?? string.Empty,
            LogDriver = spec.LogDriver is null ? null : LogDriverOf(spec.LogDriver),
        };
        if (spec.ContainerSpec is { } container)
        {
            proto.Container = ToProto(container);
        }
        else if (spec.PluginSpec is { } plugin)
        {
            var protoPlugin = new Proto.PluginSpec { Name = plugin.Name ?? string.Empty, Remote = plugin.Remote ?? string.Empty, Disabled = plugin.Disabled };
            protoPlugin.Env.AddRange(plugin.Env ?? []);
            foreach (var privilege in plugin.Privileges ?? [])
            {
                var protoPrivilege = new Proto.PluginPrivilege { Name = privilege.Name ?? string.Empty, Description = privilege.Description ?? string.Empty };
                protoPrivilege.Value.AddRange(privilege.Value ?? []);
                protoPlugin.Privileges.Add(protoPrivilege);
            }

            proto.Plugin = protoPlugin;
        }
        else if (spec.NetworkAttachmentSpec is { } attachment)
        {
            proto.Attachment = new Proto.NetworkAttachmentSpec { ContainerId = attachment.ContainerID ?? string.Empty };
        }

        if (spec.Resources is { } resources)
        {
            proto.Resources = new Proto.ResourceRequirements
            {
                Limits = resources.Limits is not { } limits ? null : new Proto.ResourceLimits { NanoCpus = limits.NanoCPUs, MemoryBytes = limits.MemoryBytes, Pids = limits.Pids },
                Reservations = resources.Reservations is not { } reservations ? null : ResourcesOf(reservations),
            };
        }

        if (spec.RestartPolicy is { } restart)
        {
            var protoRestart = new Proto.RestartPolicy
            {
                Condition = restart.Condition switch
                {
                    null or "" => Proto.RestartCondition.Unspecified,
                    RestartConditions.None => Proto.RestartCondition.None,
                    RestartConditions.OnFailure => Proto.RestartCondition.OnFailure,
                    RestartConditions.Any => Proto.RestartCondition.Any,
                    var other => throw Invalid("TaskTemplate.RestartPolicy.Condition", other, "\"none\", \"on-failure\" or \"any\""),
                },
                Delay = DurationOf(restart.Delay),
                Window = DurationOf(restart.Window),
            };
            if (restart.MaxAttempts is { } attempts and > 0) // Docker: 0 (what the CLI sends by default) = no limit
            {
                protoRestart.MaxAttempts = Int64Of(attempts, "TaskTemplate.RestartPolicy.MaxAttempts");
            }

            proto.Restart = protoRestart;
        }

        if (spec.Placement is { } placement)
        {
            var protoPlacement = new Proto.Placement { MaxReplicas = Int64Of(placement.MaxReplicas, "TaskTemplate.Placement.MaxReplicas") };
            protoPlacement.Constraints.AddRange(placement.Constraints ?? []);
            protoPlacement.Preferences.AddRange((placement.Preferences ?? []).Select(p => new Proto.PlacementPreference
            {
                Spread = p.Spread is null ? null : new Proto.SpreadOver { SpreadDescriptor = p.Spread.SpreadDescriptor ?? string.Empty },
            }));
            protoPlacement.Platforms.AddRange((placement.Platforms ?? []).Select(p => new Proto.Platform { Architecture = p.Architecture ?? string.Empty, Os = p.OS ?? string.Empty }));
            proto.Placement = protoPlacement;
        }

        proto.Networks.AddRange((spec.Networks ?? []).Select(ToProto));
        return proto;
    }

    private static ContainerSpec ToDocker(Proto.ContainerSpec container) => new()
    {
        Image = NodeMapping.EmptyAsNull(container.Image),
        Labels = MapOrNull(container.Labels),
        Command = ListOrNull(container.Command),
        Args = ListOrNull(container.Args),
        Hostname = NodeMapping.EmptyAsNull(container.Hostname),
        Env = ListOrNull(container.Env),
        Dir = NodeMapping.EmptyAsNull(container.Dir),
        User = NodeMapping.EmptyAsNull(container.User),
        Groups = ListOrNull(container.Groups),
        Privileges = container.Privileges is null ? null : ToDocker(container.Privileges),
        Init = container.HasInit ? container.Init : null,
        StopSignal = NodeMapping.EmptyAsNull(container.StopSignal),
        TTY = container.Tty,
        OpenStdin = container.OpenStdin,
        ReadOnly = container.ReadOnly,
        Mounts = container.Mounts.Count == 0 ? null : [.. container.Mounts.Select(ToDocker)],
        StopGracePeriod = Nanos(container.StopGracePeriod),
        Healthcheck = container.Healthcheck is not { } health ? null : new HealthConfig
        {
            Test = ListOrNull(health.Test),
            Interval = Nanos(health.Interval),
            Timeout = Nanos(health.Timeout),
            StartPeriod = Nanos(health.StartPeriod),
            StartInterval = Nanos(health.StartInterval),
            Retries = health.Retries,
        },
        Hosts = ListOrNull(container.Hosts),
        DNSConfig = container.DnsConfig is not { } dns ? null : new DNSConfig
        {
            Nameservers = ListOrNull(dns.Nameservers),
            Search = ListOrNull(dns.Search),
            Options = ListOrNull(dns.Options),
        },
        Secrets = container.Secrets.Count == 0 ? null : [.. container.Secrets.Select(s => new SecretReference
        {
            File = s.File is null ? null : ToDocker(s.File),
            SecretID = s.SecretId,
            SecretName = s.SecretName,
        })],
        Configs = container.Configs.Count == 0 ? null : [.. container.Configs.Select(c => new ConfigReference
        {
            File = c.File is null ? null : ToDocker(c.File),
            Runtime = c.Runtime is null ? null : new RuntimeTarget(),
            ConfigID = c.ConfigId,
            ConfigName = c.ConfigName,
        })],
        Isolation = NodeMapping.EmptyAsNull(container.Isolation),
        Sysctls = MapOrNull(container.Sysctls),
        CapabilityAdd = ListOrNull(container.CapabilityAdd),
        CapabilityDrop = ListOrNull(container.CapabilityDrop),
        Ulimits = container.Ulimits.Count == 0 ? null : [.. container.Ulimits.Select(u => new Ulimit { Name = u.Name, Soft = u.Soft, Hard = u.Hard })],
        OomScoreAdj = container.OomScoreAdj,
    };

    private static Proto.ContainerSpec ToProto(ContainerSpec container)
    {
        var proto = new Proto.ContainerSpec
        {
            Image = container.Image ?? string.Empty,
            Hostname = container.Hostname ?? string.Empty,
            Dir = container.Dir ?? string.Empty,
            User = container.User ?? string.Empty,
            Privileges = container.Privileges is null ? null : ToProto(container.Privileges),
            StopSignal = container.StopSignal ?? string.Empty,
            Tty = container.TTY,
            OpenStdin = container.OpenStdin,
            ReadOnly = container.ReadOnly,
            StopGracePeriod = DurationOf(container.StopGracePeriod),
            Isolation = container.Isolation ?? string.Empty,
            OomScoreAdj = container.OomScoreAdj,
        };
        if (container.Init is { } init)
        {
            proto.Init = init;
        }

        proto.Labels.Add(container.Labels ?? []);
        proto.Command.AddRange(container.Command ?? []);
        proto.Args.AddRange(container.Args ?? []);
        proto.Env.AddRange(container.Env ?? []);
        proto.Groups.AddRange(container.Groups ?? []);
        proto.Mounts.AddRange((container.Mounts ?? []).Select(ToProto));
        if (container.Healthcheck is { } health)
        {
            var protoHealth = new Proto.HealthConfig
            {
                Interval = DurationOf(health.Interval),
                Timeout = DurationOf(health.Timeout),
                Retries = health.Retries,
                StartPeriod = DurationOf(health.StartPeriod),
                StartInterval = DurationOf(health.StartInterval),
            };
            protoHealth.Test.AddRange(health.Test ?? []);
            proto.Healthcheck = protoHealth;
        }

        proto.Hosts.AddRange(container.Hosts ?? []);
        if (container.DNSConfig is { } dns)
        {
            var protoDns = new Proto.DnsConfig();
            protoDns.Nameservers.AddRange(dns.Nameservers ?? []);
            protoDns.Search.AddRange(dns.Search ?? []);
            protoDns.Options.AddRange(dns.Options ?? []);
            proto.DnsConfig = protoDns;
        }

        foreach (var secret in container.Secrets ?? [])
        {
            proto.Secrets.Add(new Proto.SecretReference
            {
                SecretId = secret.SecretID ?? string.Empty,
                SecretName = secret.SecretName ?? string.Empty,
                File = secret.File is null ? null : ToProto(secret.File),
            });
        }

        foreach (var config in container.Configs ?? [])
        {
            if (config.File is not null && config.Runtime is not null)
            {
                throw DockerApiException.BadRequest($"invalid config reference {config.ConfigName}: File and Runtime are mutually exclusive");
            }

            var protoConfig = new Proto.ConfigReference { ConfigId = config.ConfigID ?? string.Empty, ConfigName = config.ConfigName ?? string.Empty };
            if (config.File is not null)
            {
                protoConfig.File = ToProto(config.File);
            }
            else if (config.Runtime is not null)
            {
                protoConfig.Runtime = new Proto.RuntimeTarget();
            }

            proto.Configs.Add(protoConfig);
        }

        proto.Sysctls.Add(container.Sysctls ?? []);
        proto.CapabilityAdd.AddRange(container.CapabilityAdd ?? []);
        proto.CapabilityDrop.AddRange(container.CapabilityDrop ?? []);
        proto.Ulimits.AddRange((container.Ulimits ?? []).Select(u => new Proto.Ulimit { Name = u.Name ?? string.Empty, Soft = u.Soft, Hard = u.Hard }));
        return proto;
    }

    private static Privileges ToDocker(Proto.Privileges privileges) => new()
    {
        CredentialSpec = privileges.CredentialSpec is not { } credential ? null : new CredentialSpec
        {
            Config = credential.SourceCase == Proto.Privileges.Types.CredentialSpec.SourceOneofCase.Config ? credential.Config : string.Empty,
            File = credential.SourceCase == Proto.Privileges.Types.CredentialSpec.SourceOneofCase.File ? credential.File : string.Empty,
            Registry = credential.SourceCase == Proto.Privileges.Types.CredentialSpec.SourceOneofCase.Registry ? credential.Registry : string.Empty,
        },
        SELinuxContext = privileges.SelinuxContext is not { } selinux ? null : new SELinuxContext
        {
            Disable = selinux.Disable,
            User = selinux.User,
            Role = selinux.Role,
            Type = selinux.Type,
            Level = selinux.Level,
        },
        Seccomp = privileges.Seccomp is not { } seccomp ? null : new SeccompOpts
        {
            Mode = seccomp.Mode switch
            {
                Proto.Privileges.Types.SeccompOpts.Types.Mode.Unconfined => "unconfined",
                Proto.Privileges.Types.SeccompOpts.Types.Mode.Custom => "custom",
                _ => "default",
            },
            Profile = NodeMapping.BytesOrNull(seccomp.Profile),
        },
        AppArmor = privileges.Apparmor is not { } apparmor ? null : new AppArmorOpts
        {
            Mode = apparmor.Mode == Proto.Privileges.Types.AppArmorOpts.Types.Mode.Disabled ? "disabled" : "default",
        },
        NoNewPrivileges = privileges.NoNewPrivileges,
    };

    private static Proto.Privileges ToProto(Privileges privileges)
    {
        var proto = new Proto.Privileges { NoNewPrivileges = privileges.NoNewPrivileges };
        if (privileges.CredentialSpec is { } credential)
        {
            var set = (string.IsNullOrEmpty(credential.Config) ? 0 : 1) + (string.IsNullOrEmpty(credential.File) ? 0 : 1) + (string.IsNullOrEmpty(credential.Registry) ? 0 : 1);
            if (set > 1)
            {
                throw DockerApiException.BadRequest("invalid Privileges.CredentialSpec: set only one of Config, File and Registry");
            }

            var protoCredential = new Proto.Privileges.Types.CredentialSpec();
            if (!string.IsNullOrEmpty(credential.Config))
            {
                protoCredential.Config = credential.Config;
            }
            else if (!string.IsNullOrEmpty(credential.File))
            {
                protoCredential.File = credential.File;
            }
            else if (!string.IsNullOrEmpty(credential.Registry))
            {
                protoCredential.Registry = credential.Registry;
            }

            proto.CredentialSpec = protoCredential;
        }

        if (privileges.SELinuxContext is { } selinux)
        {
            proto.SelinuxContext = new Proto.Privileges.Types.SeLinuxContext
            {
                Disable = selinux.Disable,
                User = selinux.User ?? string.Empty,
                Role = selinux.Role ?? string.Empty,
                Type = selinux.Type ?? string.Empty,
                Level = selinux.Level ?? string.Empty,
            };
        }

        if (privileges.Seccomp is { } seccomp)
        {
            proto.Seccomp = new Proto.Privileges.Types.SeccompOpts
            {
                Mode = seccomp.Mode switch
                {
                    null or "" or "default" => Proto.Privileges.Types.SeccompOpts.Types.Mode.Default,
                    "unconfined" => Proto.Privileges.Types.SeccompOpts.Types.Mode.Unconfined,
                    "custom" => Proto.Privileges.Types.SeccompOpts.Types.Mode.Custom,
                    var other => throw Invalid("Privileges.Seccomp.Mode", other, "\"default\", \"unconfined\" or \"custom\""),
                },
                Profile = seccomp.Profile is null ? ByteString.Empty : ByteString.CopyFrom(seccomp.Profile),
            };
        }

        if (privileges.AppArmor is { } apparmor)
        {
            proto.Apparmor = new Proto.Privileges.Types.AppArmorOpts
            {
                Mode = apparmor.Mode switch
                {
                    null or "" or "default" => Proto.Privileges.Types.AppArmorOpts.Types.Mode.Default,
                    "disabled" => Proto.Privileges.Types.AppArmorOpts.Types.Mode.Disabled,
                    var other => throw Invalid("Privileges.AppArmor.Mode", other, "\"default\" or \"disabled\""),
                },
            };
        }

        return proto;
    }

    private static Mount ToDocker(Proto.Mount mount) => new()
    {
        Type = mount.Type switch
        {
            Proto.Mount.Types.Type.Volume => "volume",
            Proto.Mount.Types.Type.Tmpfs => "tmpfs",
            Proto.Mount.Types.Type.Npipe => "npipe",
            Proto.Mount.Types.Type.Cluster => "cluster",
            _ => "bind",
        },
        Source = NodeMapping.EmptyAsNull(mount.Source),
        Target = NodeMapping.EmptyAsNull(mount.Target),
        ReadOnly = mount.ReadOnly,
        Consistency = mount.Consistency switch
        {
            Proto.Mount.Types.Consistency.Consistent => "consistent",
            Proto.Mount.Types.Consistency.Cached => "cached",
            Proto.Mount.Types.Consistency.Delegated => "delegated",
            _ => null,
        },
        BindOptions = mount.BindOptions is not { } bind ? null : new BindOptions
        {
            Propagation = bind.Propagation.ToString().ToLowerInvariant(),
            NonRecursive = bind.NonRecursive,
            CreateMountpoint = bind.CreateMountpoint,
            ReadOnlyNonRecursive = bind.ReadOnlyNonRecursive,
            ReadOnlyForceRecursive = bind.ReadOnlyForceRecursive,
        },
        VolumeOptions = mount.VolumeOptions is not { } volume ? null : new VolumeOptions
        {
            NoCopy = volume.NoCopy,
            Labels = MapOrNull(volume.Labels),
            Subpath = NodeMapping.EmptyAsNull(volume.Subpath),
            DriverConfig = volume.DriverConfig is null ? null : DriverOf(volume.DriverConfig.Name, volume.DriverConfig.Options),
        },
        TmpfsOptions = mount.TmpfsOptions is not { } tmpfs ? null : new TmpfsOptions
        {
            SizeBytes = tmpfs.SizeBytes,
            Mode = tmpfs.Mode,
            // Stored as "flag" or "key=value"; Docker spells each as a one- or two-element list.
            Options = tmpfs.Options.Count == 0 ? null : [.. tmpfs.Options.Select(o => o.Split('=', 2).ToList())],
        },
    };

    private static Proto.Mount ToProto(Mount mount)
    {
        var proto = new Proto.Mount
        {
            Type = mount.Type switch
            {
                null or "" or "bind" => Proto.Mount.Types.Type.Bind,
                "volume" => Proto.Mount.Types.Type.Volume,
                "tmpfs" => Proto.Mount.Types.Type.Tmpfs,
                "npipe" => Proto.Mount.Types.Type.Npipe,
                "cluster" => Proto.Mount.Types.Type.Cluster,
                var other => throw Invalid("Mounts.Type", other, "\"bind\", \"volume\", \"tmpfs\", \"npipe\" or \"cluster\""),
            },
            Source = mount.Source ?? string.Empty,
            Target = mount.Target ?? string.Empty,
            ReadOnly = mount.ReadOnly,
            Consistency = mount.Consistency switch
            {
                null or "" or "default" => Proto.Mount.Types.Consistency.Default,
                "consistent" => Proto.Mount.Types.Consistency.Consistent,
                "cached" => Proto.Mount.Types.Consistency.Cached,
                "delegated" => Proto.Mount.Types.Consistency.Delegated,
                var other => throw Invalid("Mounts.Consistency", other, "\"default\", \"consistent\", \"cached\" or \"delegated\""),
            },
        };
        if (mount.BindOptions is { } bind)
        {
            proto.BindOptions = new Proto.Mount.Types.BindOptions
            {
                Propagation = bind.Propagation switch
                {
                    null or "" or "rprivate" => Proto.Mount.Types.BindOptions.Types.Propagation.Rprivate,
                    "private" => Proto.Mount.Types.BindOptions.Types.Propagation.Private,
                    "rshared" => Proto.Mount.Types.BindOptions.Types.Propagation.Rshared,
                    "shared" => Proto.Mount.Types.BindOptions.Types.Propagation.Shared,
                    "rslave" => Proto.Mount.Types.BindOptions.Types.Propagation.Rslave,
                    "slave" => Proto.Mount.Types.BindOptions.Types.Propagation.Slave,
                    var other => throw Invalid("Mounts.BindOptions.Propagation", other, "\"rprivate\", \"private\", \"rshared\", \"shared\", \"rslave\" or \"slave\""),
                },
                NonRecursive = bind.NonRecursive,
                CreateMountpoint = bind.CreateMountpoint,
                ReadOnlyNonRecursive = bind.ReadOnlyNonRecursive,
                ReadOnlyForceRecursive = bind.ReadOnlyForceRecursive,
            };
        }

        if (mount.VolumeOptions is { } volume)
        {
            var protoVolume = new Proto.Mount.Types.VolumeOptions
            {
                NoCopy = volume.NoCopy,
                Subpath = volume.Subpath ?? string.Empty,
                DriverConfig = volume.DriverConfig is null ? null : DriverOf(volume.DriverConfig),
            };
            protoVolume.Labels.Add(volume.Labels ?? []);
            proto.VolumeOptions = protoVolume;
        }

        if (mount.TmpfsOptions is { } tmpfs)
        {
            var protoTmpfs = new Proto.Mount.Types.TmpfsOptions { SizeBytes = tmpfs.SizeBytes, Mode = tmpfs.Mode };
            foreach (var option in tmpfs.Options ?? [])
            {
                protoTmpfs.Options.Add(option switch
                {
                    [var flag] when !flag.Contains('=', StringComparison.Ordinal) => flag,
                    [var key, var value] when !key.Contains('=', StringComparison.Ordinal) => key + "=" + value,
                    _ => throw DockerApiException.BadRequest(
                        $"invalid Mounts.TmpfsOptions.Options entry [{string.Join(", ", option)}]: each must be a flag [\"noexec\"] or a key and a value [\"uid\", \"1000\"]"),
                });
            }

            proto.TmpfsOptions = protoTmpfs;
        }

        return proto;
    }

    private static FileTarget ToDocker(Proto.FileTarget file) => new() { Name = file.Name, UID = file.Uid, GID = file.Gid, Mode = file.Mode };

    private static Proto.FileTarget ToProto(FileTarget file) => new()
    {
        Name = file.Name ?? string.Empty,
        Uid = file.UID ?? string.Empty,
        Gid = file.GID ?? string.Empty,
        Mode = file.Mode,
    };

    private static NetworkAttachmentConfig ToDocker(Proto.NetworkAttachmentConfig network) => new()
    {
        Target = network.Target,
        Aliases = ListOrNull(network.Aliases),
        DriverOpts = MapOrNull(network.DriverAttachmentOpts),
    };

    private static Proto.NetworkAttachmentConfig ToProto(NetworkAttachmentConfig network)
    {
        var proto = new Proto.NetworkAttachmentConfig { Target = network.Target ?? string.Empty };
        proto.Aliases.AddRange(network.Aliases ?? []);
        proto.DriverAttachmentOpts.Add(network.DriverOpts ?? []);
        return proto;
    }

    private static Proto.Resources ResourcesOf(Resources resources)
    {
        var proto = new Proto.Resources { NanoCpus = resources.NanoCPUs, MemoryBytes = resources.MemoryBytes };
        foreach (var generic in resources.GenericResources ?? [])
        {
            if ((generic.NamedResourceSpec is null) == (generic.DiscreteResourceSpec is null))
            {
                throw DockerApiException.BadRequest("invalid Resources.Reservations.GenericResources entry: set exactly one of NamedResourceSpec and DiscreteResourceSpec");
            }

            proto.Generic.Add(generic.NamedResourceSpec is { } named
                ? new Proto.GenericResource { Named = new Proto.NamedGenericResource { Kind = named.Kind ?? string.Empty, Value = named.Value ?? string.Empty } }
                : new Proto.GenericResource { Discrete = new Proto.DiscreteGenericResource { Kind = generic.DiscreteResourceSpec!.Kind ?? string.Empty, Value = generic.DiscreteResourceSpec.Value } });
        }

        return proto;
    }

    /// <summary>The Docker view of generic resources; null when there are none.</summary>
    internal static List<GenericResource>? GenericResourcesOf(IReadOnlyCollection<Proto.GenericResource> resources) =>
        resources.Count == 0 ? null : [.. resources.Select(r => new GenericResource
        {
            NamedResourceSpec = r.Named is null ? null : new NamedGenericResource { Kind = r.Named.Kind, Value = r.Named.Value },
            DiscreteResourceSpec = r.Discrete is null ? null : new DiscreteGenericResource { Kind = r.Discrete.Kind, Value = r.Discrete.Value },
        })];

    // -----------------------------------------------------------------------------------------------------
    // Small conversions

    private static Proto.Annotations AnnotationsOf(string? name, Dictionary<string, string>? labels)
    {
        var annotations = new Proto.Annotations { Name = name ?? string.Empty };
        annotations.Labels.Add(labels ?? []);
        return annotations;
    }

    /// <summary>Labels as Docker writes them for a spec: always an object (<c>{}</c> when empty).</summary>
    internal static Dictionary<string, string> LabelsOf(Proto.Annotations? annotations) =>
        annotations is null ? [] : new Dictionary<string, string>(annotations.Labels);

    internal static Driver DriverOf(string name, IDictionary<string, string> options) =>
        new() { Name = name, Options = options.Count == 0 ? null : new Dictionary<string, string>(options) };

    private static Proto.Driver DriverOf(Driver driver)
    {
        var proto = new Proto.Driver { Name = driver.Name ?? string.Empty };
        proto.Options.Add(driver.Options ?? []);
        return proto;
    }

    private static Proto.LogDriver LogDriverOf(Driver driver)
    {
        var proto = new Proto.LogDriver { Name = driver.Name ?? string.Empty };
        proto.Options.Add(driver.Options ?? []);
        return proto;
    }

    private static List<string>? ListOrNull(RepeatedField<string> values) => values.Count == 0 ? null : [.. values];

    private static Dictionary<string, string>? MapOrNull(MapField<string, string> values) =>
        values.Count == 0 ? null : new Dictionary<string, string>(values);

    /// <summary>Nanoseconds of a protobuf duration; null when absent.</summary>
    internal static long? Nanos(Duration? duration) => duration is null ? null : (duration.Seconds * 1_000_000_000) + duration.Nanos;

    /// <summary>A protobuf duration of nanoseconds; null when absent.</summary>
    internal static Duration? DurationOf(long? nanos) =>
        nanos is not { } value ? null : new Duration { Seconds = value / 1_000_000_000, Nanos = (int)(value % 1_000_000_000) };

    private static long Int64Of(ulong value, string field) =>
        value <= long.MaxValue ? (long)value : throw DockerApiException.BadRequest($"invalid {field} {value}: it must be at most {long.MaxValue}");

    private static DockerApiException Invalid(string field, string value, string accepted) =>
        DockerApiException.BadRequest($"invalid {field} \"{value}\": use {accepted}");
}
