using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Shoal.DockerApi.Model;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Tests.Model;

/// <summary>
/// The service mapping keeps specs verbatim: Docker JSON → protobuf → Docker JSON is the identity for every field
/// Docker defines, and a stored spec read back and posted again is stored unchanged.
/// </summary>
public sealed class ServiceMappingTests
{
    /// <summary>A spec with every field of docker-api-subset §2.4 set to a non-default value.</summary>
    private const string FullSpec = """
        {
          "Name": "web",
          "Labels": {"com.docker.stack.namespace": "s", "tier": "front"},
          "TaskTemplate": {
            "ContainerSpec": {
              "Image": "nginx:1.27@sha256:0123456789abcdef",
              "Labels": {"a": "b"},
              "Command": ["/bin/sh", "-c"],
              "Args": ["sleep", "1000"],
              "Hostname": "web-host",
              "Env": ["A=B", "C=D"],
              "Dir": "/srv",
              "User": "1000:1000",
              "Groups": ["wheel", "audio"],
              "Privileges": {
                "CredentialSpec": {"Config": "", "File": "spec.json", "Registry": ""},
                "SELinuxContext": {"Disable": false, "User": "u", "Role": "r", "Type": "t", "Level": "s0"},
                "Seccomp": {"Mode": "custom", "Profile": "eyJhIjoxfQ=="},
                "AppArmor": {"Mode": "disabled"},
                "NoNewPrivileges": true
              },
              "Init": true,
              "StopSignal": "SIGTERM",
              "TTY": true,
              "OpenStdin": true,
              "ReadOnly": true,
              "Mounts": [
                {"Type": "bind", "Source": "/data", "Target": "/data", "ReadOnly": true, "Consistency": "cached",
                 "BindOptions": {"Propagation": "rshared", "NonRecursive": true, "CreateMountpoint": true, "ReadOnlyNonRecursive": true, "ReadOnlyForceRecursive": true}},
                {"Type": "volume", "Source": "s_dbdata", "Target": "/var/lib/db",
                 "VolumeOptions": {"NoCopy": true, "Labels": {"com.docker.stack.namespace": "s"}, "Subpath": "sub", "DriverConfig": {"Name": "local", "Options": {"o": "bind"}}}},
                {"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1023, "Options": [["noexec"], ["uid", "1000"]]}}
              ],
              "StopGracePeriod": 20000000000,
              "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000, "Timeout": 2000000000, "StartPeriod": 3000000000, "StartInterval": 4000000000, "Retries": 3},
              "Hosts": ["10.0.0.1 db"],
              "DNSConfig": {"Nameservers": ["8.8.8.8"], "Search": ["example.org"], "Options": ["ndots:2"]},
              "Secrets": [{"File": {"Name": "s_db_password", "UID": "0", "GID": "0", "Mode": 292}, "SecretID": "sec1", "SecretName": "s_db_password"}],
              "Configs": [
                {"File": {"Name": "/etc/app.conf", "UID": "1", "GID": "2", "Mode": 420}, "ConfigID": "cfg1", "ConfigName": "app"},
                {"Runtime": {}, "ConfigID": "cfg2", "ConfigName": "credspec"}
              ],
              "Isolation": "default",
              "Sysctls": {"net.core.somaxconn": "1024"},
              "CapabilityAdd": ["CAP_NET_ADMIN"],
              "CapabilityDrop": ["CAP_MKNOD"],
              "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
              "OomScoreAdj": 100
            },
            "Resources": {
              "Limits": {"NanoCPUs": 2000000000, "MemoryBytes": 536870912, "Pids": 100},
              "Reservations": {"NanoCPUs": 500000000, "MemoryBytes": 268435456,
                               "GenericResources": [{"NamedResourceSpec": {"Kind": "gpu", "Value": "uuid-1"}}, {"DiscreteResourceSpec": {"Kind": "ssd", "Value": 2}}]}
            },
            "RestartPolicy": {"Condition": "on-failure", "Delay": 5000000000, "MaxAttempts": 3, "Window": 60000000000},
            "Placement": {
              "Constraints": ["node.role==worker", "node.labels.zone!=b"],
              "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
              "MaxReplicas": 2,
              "Platforms": [{"Architecture": "amd64", "OS": "linux"}]
            },
            "Networks": [{"Target": "net1", "Aliases": ["web"], "DriverOpts": {"k": "v"}}],
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "10m"}},
            "ForceUpdate": 7,
            "Runtime": "container"
          },
          "Mode": {"Replicated": {"Replicas": 3}},
          "UpdateConfig": {"Parallelism": 2, "Delay": 10000000000, "FailureAction": "rollback", "Monitor": 5000000000, "MaxFailureRatio": 0.25, "Order": "start-first"},
          "RollbackConfig": {"Parallelism": 1, "Delay": 1000000000, "FailureAction": "continue", "Monitor": 2000000000, "MaxFailureRatio": 0.5, "Order": "stop-first"},
          "Networks": [{"Target": "legacy-net", "Aliases": ["old"]}],
          "EndpointSpec": {"Mode": "dnsrr", "Ports": [
            {"Name": "http", "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host"},
            {"Protocol": "sctp", "TargetPort": 9, "PublishedPort": 0, "PublishMode": "ingress"}
          ]}
        }
        """;

    /// <summary>The body of <c>docker service create --replicas 3 --name web --publish 8080:80 …</c> (observed).</summary>
    private const string CliCreateBody = """
        {"Name":"web","Labels":{},
         "TaskTemplate":{
           "ContainerSpec":{"Image":"busybox:latest","Args":["sleep","1000"],"Env":["A=B"],"Init":false,"DNSConfig":{}},
           "Resources":{"Limits":{},"Reservations":{}},
           "Placement":{"Constraints":["node.role==worker"]},
           "ForceUpdate":0},
         "Mode":{"Replicated":{"Replicas":3}},
         "UpdateConfig":{"Parallelism":2,"Delay":10000000000,"FailureAction":"pause","Monitor":5000000000,
                         "MaxFailureRatio":0,"Order":"stop-first"},
         "EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}
        """;

    /// <summary>What <c>docker stack deploy</c> sends (network names, no endpoint mode, empty privileges).</summary>
    private const string StackDeployBody = """
        {"Name":"s_web","Labels":{"com.docker.stack.namespace":"s","com.docker.stack.image":"nginx:alpine"},
         "TaskTemplate":{
           "ContainerSpec":{"Image":"nginx:alpine","Labels":{"com.docker.stack.namespace":"s"},
             "Privileges":{"CredentialSpec":null,"SELinuxContext":null,"NoNewPrivileges":false},
             "Mounts":[{"Type":"volume","Source":"s_dbdata","Target":"/data","VolumeOptions":{"Labels":{"com.docker.stack.namespace":"s"}}}]},
           "Networks":[{"Target":"s_back","Aliases":["web"]}],
           "ForceUpdate":0,"Runtime":""},
         "Mode":{"Replicated":{}},
         "UpdateConfig":{"Parallelism":1,"Delay":5000000000,"MaxFailureRatio":0,"Order":""},
         "EndpointSpec":{}}
        """;

    [Fact]
    public void FullSpec_JsonToProtoToJson_IsIdentical()
    {
        var spec = Deserialize(FullSpec);

        var back = ServiceMapping.ToDocker(ServiceMapping.ToProto(spec));

        AssertSameJson(JsonNode.Parse(FullSpec)!, Serialize(back));
    }

    [Theory]
    [InlineData(CliCreateBody)]
    [InlineData(StackDeployBody)]
    [InlineData(FullSpec)]
    public void SpecReadBack_AndPostedAgain_IsStoredUnchanged(string body)
    {
        var stored = ServiceMapping.ToProto(Deserialize(body));

        // What GET /services/{id}?insertDefaults=false returns, as the CLI decodes it and sends it back to update.
        var readBack = Serialize(ServiceMapping.ToDocker(stored));
        var storedAgain = ServiceMapping.ToProto(Deserialize(readBack.ToJsonString()));

        Assert.Equal(stored, storedAgain);
        AssertSameJson(readBack, Serialize(ServiceMapping.ToDocker(storedAgain)));
    }

    [Fact]
    public void RandomStoredSpecs_SurviveTheDockerView()
    {
        // Property: any spec Docker can express maps to Docker JSON and back to the same protobuf message.
        const int Seed = 20261206;
        var random = new Random(Seed);
        for (var i = 0; i < 300; i++)
        {
            var stored = RandomSpecs.ServiceSpec(random);
            var json = Serialize(ServiceMapping.ToDocker(stored)).ToJsonString();

            var back = ServiceMapping.ToProto(Deserialize(json));

            Assert.True(stored.Equals(back), $"seed {Seed}, case {i}: the spec changed through Docker JSON\nstored: {stored}\nback:   {back}\njson:   {json}");
        }
    }

    [Fact]
    public void ObservedCliBody_MapsToTheExpectedProto()
    {
        var proto = ServiceMapping.ToProto(Deserialize(CliCreateBody));

        Assert.Equal("web", proto.Annotations.Name);
        Assert.Equal(3, proto.Replicated.Replicas);
        Assert.Equal(["sleep", "1000"], proto.Task.Container.Args);
        Assert.True(proto.Task.Container.HasInit);
        Assert.False(proto.Task.Container.Init);
        Assert.NotNull(proto.Task.Container.DnsConfig);
        Assert.Equal(Duration.FromTimeSpan(TimeSpan.FromSeconds(10)), proto.Update.Delay);
        Assert.Equal(Proto.FailureAction.Pause, proto.Update.FailureAction);
        Assert.Equal(Proto.UpdateOrder.StopFirst, proto.Update.Order);
        var port = Assert.Single(proto.Endpoint.Ports);
        Assert.Equal((80u, 8080u, Proto.PublishMode.Ingress), (port.TargetPort, port.PublishedPort, port.PublishMode));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(3, true)]
    public void RestartMaxAttempts_ZeroAsTheCliSendsIt_MeansNoLimit(ulong attempts, bool limited)
    {
        // `docker service create --restart-delay 1s` sends MaxAttempts 0, which Docker reads as "no limit".
        var body = """{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"RestartPolicy":{"Condition":"any","Delay":1000000000,"MaxAttempts":N}}}""";
        var proto = ServiceMapping.ToProto(Deserialize(body.Replace("N", attempts.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)));

        Assert.Equal(limited, proto.Task.Restart.HasMaxAttempts);
        Assert.Equal(limited ? (long)attempts : 0, proto.Task.Restart.MaxAttempts);
    }

    [Fact]
    public void RegistryAuth_IsStoredWithTheSpec_ButNeverShown()
    {
        var proto = ServiceMapping.ToProto(Deserialize(CliCreateBody), registryAuth: "eyJ1c2VybmFtZSI6InUifQ==");

        Assert.Equal("eyJ1c2VybmFtZSI6InUifQ==", proto.Task.Container.PullOptionsRegistryAuth);
        Assert.DoesNotContain("eyJ1c2VybmFtZSI6InUifQ", Serialize(ServiceMapping.ToDocker(proto)).ToJsonString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"Replicated":{}}""", 1)]
    [InlineData("""{}""", 1)]
    [InlineData("""{"Replicated":{"Replicas":0}}""", 0)]
    public void ReplicatedWithoutReplicas_IsStoredAsOne_AndShownExplicitly(string mode, long expected)
    {
        var proto = ServiceMapping.ToProto(Deserialize($$$"""{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{{{mode}}}}"""));

        Assert.Equal(expected, proto.Replicated.Replicas);
        Assert.Equal((ulong)expected, ServiceMapping.ToDocker(proto).Mode.Replicated!.Replicas);
    }

    [Fact]
    public void ReplicatedJob_Defaults_AreStored_AndJobStatusIsAlwaysShown()
    {
        var proto = ServiceMapping.ToProto(Deserialize("""{"Name":"job","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"ReplicatedJob":{}}}"""));
        Assert.Equal((1L, 1L), (proto.ReplicatedJob.MaxConcurrent, proto.ReplicatedJob.TotalCompletions));

        var withTotal = ServiceMapping.ToProto(Deserialize("""{"Name":"job","Mode":{"ReplicatedJob":{"MaxConcurrent":4}}}"""));
        Assert.Equal((4L, 4L), (withTotal.ReplicatedJob.MaxConcurrent, withTotal.ReplicatedJob.TotalCompletions));

        var service = ServiceMapping.ToDocker(new Proto.Service { Id = "j1", Spec = proto });
        Assert.Equal(1UL, service.Spec.Mode.ReplicatedJob!.MaxConcurrent);
        Assert.Equal(1UL, service.Spec.Mode.ReplicatedJob.TotalCompletions);
        Assert.NotNull(service.JobStatus);
        Assert.Null(ServiceMapping.ToDocker(new Proto.Service { Id = "r1", Spec = ServiceMapping.ToProto(Deserialize(CliCreateBody)) }).JobStatus);
    }

    [Theory]
    [InlineData("""{"Mode":{"Replicated":{},"Global":{}}}""", "set only one of Replicated, Global")]
    [InlineData("""{"TaskTemplate":{"RestartPolicy":{"Condition":"sometimes"}}}""", "invalid TaskTemplate.RestartPolicy.Condition \"sometimes\"")]
    [InlineData("""{"UpdateConfig":{"FailureAction":"explode"}}""", "invalid UpdateConfig.FailureAction \"explode\"")]
    [InlineData("""{"RollbackConfig":{"Order":"random"}}""", "invalid RollbackConfig.Order \"random\"")]
    [InlineData("""{"EndpointSpec":{"Mode":"lb"}}""", "invalid EndpointSpec.Mode \"lb\"")]
    [InlineData("""{"EndpointSpec":{"Ports":[{"Protocol":"icmp","TargetPort":1}]}}""", "invalid EndpointSpec.Ports.Protocol \"icmp\"")]
    [InlineData("""{"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Type":"image"}]}}}""", "invalid Mounts.Type \"image\"")]
    [InlineData("""{"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Type":"tmpfs","TmpfsOptions":{"Options":[["a","b","c"]]}}]}}}""", "invalid Mounts.TmpfsOptions.Options entry")]
    [InlineData("""{"TaskTemplate":{"ContainerSpec":{},"PluginSpec":{}}}""", "mutually exclusive")]
    [InlineData("""{"TaskTemplate":{"Runtime":"wasm"}}""", "invalid TaskTemplate.Runtime \"wasm\"")]
    [InlineData("""{"Mode":{"Replicated":{"Replicas":18446744073709551615}}}""", "invalid Mode.Replicated.Replicas")]
    public void ValuesDockerDoesNotDefine_Are400_NamingTheField(string body, string expected)
    {
        var error = Assert.Throws<DockerApiException>(() => ServiceMapping.ToProto(Deserialize(body)));

        Assert.Equal(400, error.StatusCode);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Service_ShowsEndpointStatusAndTimes_InDockersShape()
    {
        var created = new DateTimeOffset(2026, 12, 6, 9, 0, 0, TimeSpan.Zero).AddTicks(1234567);
        var service = new Proto.Service
        {
            Id = "svc1",
            Meta = new Proto.Meta { Version = 15, CreatedAt = Timestamp.FromDateTimeOffset(created), UpdatedAt = Timestamp.FromDateTimeOffset(created) },
            Spec = ServiceMapping.ToProto(Deserialize(CliCreateBody)),
            PreviousSpec = ServiceMapping.ToProto(Deserialize(CliCreateBody)),
            Endpoint = new Proto.Endpoint
            {
                Spec = new Proto.EndpointSpec(),
                Ports = { new Proto.PortConfig { TargetPort = 80, PublishedPort = 30001 } },
                VirtualIps = { new Proto.VirtualIp { NetworkId = "ingress1", Addr = "10.0.0.5/24" } },
            },
            UpdateStatus = new Proto.UpdateStatus { State = Proto.UpdateState.Updating, StartedAt = Timestamp.FromDateTimeOffset(created), Message = "update in progress" },
        };

        var json = Serialize(ServiceMapping.ToDocker(service, new Proto.ServiceStatus { RunningTasks = 2, DesiredTasks = 3 })).AsObject();

        Assert.Equal("svc1", (string?)json["ID"]);
        Assert.Equal(15, (int?)json["Version"]!["Index"]);
        Assert.Equal("2026-12-06T09:00:00.1234567Z", (string?)json["CreatedAt"]);
        Assert.NotNull(json["PreviousSpec"]);
        Assert.Equal("""{"Protocol":"tcp","TargetPort":80,"PublishedPort":30001,"PublishMode":"ingress"}""", json["Endpoint"]!["Ports"]![0]!.ToJsonString());
        Assert.Equal("10.0.0.5/24", (string?)json["Endpoint"]!["VirtualIPs"]![0]!["Addr"]);
        Assert.Equal("""{"State":"updating","StartedAt":"2026-12-06T09:00:00.1234567Z","Message":"update in progress"}""", json["UpdateStatus"]!.ToJsonString());
        Assert.Equal("""{"RunningTasks":2,"DesiredTasks":3,"CompletedTasks":0}""", json["ServiceStatus"]!.ToJsonString());
        Assert.False(json.ContainsKey("JobStatus"));
    }

    private static ServiceSpec Deserialize(string json) => JsonSerializer.Deserialize(json, DockerJsonContext.Default.ServiceSpec)!;

    private static JsonNode Serialize(ServiceSpec spec) => JsonSerializer.SerializeToNode(spec, DockerJsonContext.Default.ServiceSpec)!;

    private static JsonNode Serialize(Service service) => JsonSerializer.SerializeToNode(service, DockerJsonContext.Default.Service)!;

    private static void AssertSameJson(JsonNode expected, JsonNode actual) =>
        Assert.True(JsonNode.DeepEquals(expected, actual), $"expected\n{expected.ToJsonString()}\nactual\n{actual.ToJsonString()}");
}

/// <summary>Random service specs within what Docker's JSON can express (seeded: a failure names its seed).</summary>
internal static class RandomSpecs
{
    public static Proto.ServiceSpec ServiceSpec(Random random)
    {
        var spec = new Proto.ServiceSpec
        {
            Annotations = Annotations(random),
            Task = TaskSpec(random),
            Update = Maybe(random, () => UpdateConfig(random)),
            Rollback = Maybe(random, () => UpdateConfig(random)),
            Endpoint = Maybe(random, () => new Proto.EndpointSpec
            {
                Mode = Pick(random, Proto.ResolutionMode.Vip, Proto.ResolutionMode.Dnsrr),
                Ports = { List(random, () => Port(random)) },
            }),
        };
        spec.Networks.AddRange(List(random, () => Network(random)));
        switch (random.Next(4))
        {
            case 0:
                spec.Replicated = new Proto.ReplicatedService { Replicas = random.Next(0, 100) };
                break;
            case 1:
                spec.Global = new Proto.GlobalService();
                break;
            case 2:
                spec.ReplicatedJob = new Proto.ReplicatedJob { MaxConcurrent = random.Next(0, 10), TotalCompletions = random.Next(0, 10) };
                break;
            default:
                spec.GlobalJob = new Proto.GlobalJob();
                break;
        }

        return spec;
    }

    private static Proto.TaskSpec TaskSpec(Random random)
    {
        var spec = new Proto.TaskSpec
        {
            ForceUpdate = (ulong)random.Next(0, 3),
            RuntimeName = Pick(random, string.Empty, "container"),
            LogDriver = Maybe(random, () => new Proto.LogDriver { Name = Word(random), Options = { Map(random) } }),
            Resources = Maybe(random, () => new Proto.ResourceRequirements
            {
                Limits = Maybe(random, () => new Proto.ResourceLimits { NanoCpus = random.Next(0, 4) * 500_000_000L, MemoryBytes = random.Next(0, 3) << 20, Pids = random.Next(0, 50) }),
                Reservations = Maybe(random, () => new Proto.Resources
                {
                    NanoCpus = random.Next(0, 4),
                    MemoryBytes = random.Next(0, 4),
                    Generic =
                    {
                        List(random, () => random.Next(2) == 0
                            ? new Proto.GenericResource { Named = new Proto.NamedGenericResource { Kind = Word(random), Value = Word(random) } }
                            : new Proto.GenericResource { Discrete = new Proto.DiscreteGenericResource { Kind = Word(random), Value = random.Next(0, 9) } }),
                    },
                }),
            }),
            Restart = Maybe(random, () =>
            {
                var restart = new Proto.RestartPolicy
                {
                    Condition = Pick(random, Proto.RestartCondition.Unspecified, Proto.RestartCondition.None, Proto.RestartCondition.OnFailure, Proto.RestartCondition.Any),
                    Delay = Maybe(random, () => DurationOf(random)),
                    Window = Maybe(random, () => DurationOf(random)),
                };
                if (random.Next(2) == 0)
                {
                    restart.MaxAttempts = random.Next(1, 5); // 0 means no limit, as absent does: Docker shows neither
                }

                return restart;
            }),
            Placement = Maybe(random, () => new Proto.Placement
            {
                Constraints = { List(random, () => "node.labels." + Word(random) + "==" + Word(random)) },
                Preferences = { List(random, () => new Proto.PlacementPreference { Spread = new Proto.SpreadOver { SpreadDescriptor = "node.labels." + Word(random) } }) },
                Platforms = { List(random, () => new Proto.Platform { Architecture = Word(random), Os = Word(random) }) },
                MaxReplicas = random.Next(0, 3),
            }),
        };
        spec.Networks.AddRange(List(random, () => Network(random)));
        spec.Container = Container(random);
        return spec;
    }

    private static Proto.ContainerSpec Container(Random random)
    {
        var container = new Proto.ContainerSpec
        {
            Image = Word(random) + ":latest",
            Labels = { Map(random) },
            Command = { List(random, () => Word(random)) },
            Args = { List(random, () => Word(random)) },
            Hostname = Pick(random, string.Empty, Word(random)),
            Env = { List(random, () => Word(random) + "=" + Word(random)) },
            Dir = Pick(random, string.Empty, "/" + Word(random)),
            User = Pick(random, string.Empty, Word(random)),
            Groups = { List(random, () => Word(random)) },
            StopSignal = Pick(random, string.Empty, "SIGINT"),
            Tty = random.Next(2) == 0,
            OpenStdin = random.Next(2) == 0,
            ReadOnly = random.Next(2) == 0,
            StopGracePeriod = Maybe(random, () => DurationOf(random)),
            Hosts = { List(random, () => "10.0.0." + random.Next(1, 254) + " " + Word(random)) },
            Isolation = Pick(random, string.Empty, "process"),
            Sysctls = { Map(random) },
            CapabilityAdd = { List(random, () => "CAP_" + Word(random).ToUpperInvariant()) },
            CapabilityDrop = { List(random, () => "CAP_" + Word(random).ToUpperInvariant()) },
            Ulimits = { List(random, () => new Proto.Ulimit { Name = Word(random), Soft = random.Next(0, 9), Hard = random.Next(9, 99) }) },
            OomScoreAdj = random.Next(-10, 10),
            Privileges = Maybe(random, () => Privileges(random)),
            Healthcheck = Maybe(random, () => new Proto.HealthConfig
            {
                Test = { List(random, () => Word(random)) },
                Interval = Maybe(random, () => DurationOf(random)),
                Timeout = Maybe(random, () => DurationOf(random)),
                StartPeriod = Maybe(random, () => DurationOf(random)),
                StartInterval = Maybe(random, () => DurationOf(random)),
                Retries = random.Next(0, 5),
            }),
            DnsConfig = Maybe(random, () => new Proto.DnsConfig
            {
                Nameservers = { List(random, () => "10.0.0." + random.Next(1, 254)) },
                Search = { List(random, () => Word(random) + ".org") },
                Options = { List(random, () => "ndots:" + random.Next(1, 5)) },
            }),
        };
        if (random.Next(2) == 0)
        {
            container.Init = random.Next(2) == 0;
        }

        container.Mounts.AddRange(List(random, () => Mount(random)));
        container.Secrets.AddRange(List(random, () => new Proto.SecretReference
        {
            SecretId = Word(random),
            SecretName = Word(random),
            File = Maybe(random, () => FileTarget(random)),
        }));
        container.Configs.AddRange(List(random, () =>
        {
            var config = new Proto.ConfigReference { ConfigId = Word(random), ConfigName = Word(random) };
            switch (random.Next(3))
            {
                case 0:
                    config.File = FileTarget(random);
                    break;
                case 1:
                    config.Runtime = new Proto.RuntimeTarget();
                    break;
            }

            return config;
        }));
        return container;
    }

    private static Proto.Privileges Privileges(Random random)
    {
        var privileges = new Proto.Privileges
        {
            NoNewPrivileges = random.Next(2) == 0,
            SelinuxContext = Maybe(random, () => new Proto.Privileges.Types.SeLinuxContext { Disable = random.Next(2) == 0, User = Word(random), Role = Word(random), Type = Word(random), Level = Word(random) }),
            Seccomp = Maybe(random, () => new Proto.Privileges.Types.SeccompOpts
            {
                Mode = Pick(random, Proto.Privileges.Types.SeccompOpts.Types.Mode.Default, Proto.Privileges.Types.SeccompOpts.Types.Mode.Unconfined, Proto.Privileges.Types.SeccompOpts.Types.Mode.Custom),
                Profile = random.Next(2) == 0 ? ByteString.Empty : ByteString.CopyFromUtf8("{\"defaultAction\":\"SCMP_ACT_ERRNO\"}"),
            }),
            Apparmor = Maybe(random, () => new Proto.Privileges.Types.AppArmorOpts
            {
                Mode = Pick(random, Proto.Privileges.Types.AppArmorOpts.Types.Mode.Default, Proto.Privileges.Types.AppArmorOpts.Types.Mode.Disabled),
            }),
        };
        if (random.Next(2) == 0)
        {
            var credential = new Proto.Privileges.Types.CredentialSpec();
            switch (random.Next(4))
            {
                case 0:
                    credential.File = Word(random);
                    break;
                case 1:
                    credential.Registry = Word(random);
                    break;
                case 2:
                    credential.Config = Word(random);
                    break;
            }

            privileges.CredentialSpec = credential;
        }

        return privileges;
    }

    private static Proto.Mount Mount(Random random) => new()
    {
        Type = Pick(random, Proto.Mount.Types.Type.Bind, Proto.Mount.Types.Type.Volume, Proto.Mount.Types.Type.Tmpfs, Proto.Mount.Types.Type.Npipe, Proto.Mount.Types.Type.Cluster),
        Source = Pick(random, string.Empty, "/" + Word(random)),
        Target = "/" + Word(random),
        ReadOnly = random.Next(2) == 0,
        Consistency = Pick(random, Proto.Mount.Types.Consistency.Default, Proto.Mount.Types.Consistency.Consistent, Proto.Mount.Types.Consistency.Cached, Proto.Mount.Types.Consistency.Delegated),
        BindOptions = Maybe(random, () => new Proto.Mount.Types.BindOptions
        {
            Propagation = (Proto.Mount.Types.BindOptions.Types.Propagation)random.Next(0, 6),
            NonRecursive = random.Next(2) == 0,
            CreateMountpoint = random.Next(2) == 0,
            ReadOnlyNonRecursive = random.Next(2) == 0,
            ReadOnlyForceRecursive = random.Next(2) == 0,
        }),
        VolumeOptions = Maybe(random, () => new Proto.Mount.Types.VolumeOptions
        {
            NoCopy = random.Next(2) == 0,
            Labels = { Map(random) },
            Subpath = Pick(random, string.Empty, Word(random)),
            DriverConfig = Maybe(random, () => new Proto.Driver { Name = Word(random), Options = { Map(random) } }),
        }),
        TmpfsOptions = Maybe(random, () => new Proto.Mount.Types.TmpfsOptions
        {
            SizeBytes = random.Next(0, 1 << 20),
            Mode = (uint)random.Next(0, 512),
            Options = { List(random, () => random.Next(2) == 0 ? Word(random) : Word(random) + "=" + Word(random)) },
        }),
    };

    private static Proto.UpdateConfig UpdateConfig(Random random) => new()
    {
        Parallelism = random.Next(0, 5),
        Delay = Maybe(random, () => DurationOf(random)),
        FailureAction = Pick(random, Proto.FailureAction.Unspecified, Proto.FailureAction.Pause, Proto.FailureAction.Continue, Proto.FailureAction.Rollback),
        Monitor = Maybe(random, () => DurationOf(random)),
        MaxFailureRatio = random.Next(0, 5) / 4f,
        Order = Pick(random, Proto.UpdateOrder.Unspecified, Proto.UpdateOrder.StopFirst, Proto.UpdateOrder.StartFirst),
    };

    private static Proto.PortConfig Port(Random random) => new()
    {
        Name = Pick(random, string.Empty, Word(random)),
        Protocol = Pick(random, Proto.PortProtocol.Tcp, Proto.PortProtocol.Udp, Proto.PortProtocol.Sctp),
        TargetPort = (uint)random.Next(1, 65536),
        PublishedPort = (uint)random.Next(0, 65536),
        PublishMode = Pick(random, Proto.PublishMode.Ingress, Proto.PublishMode.Host),
    };

    private static Proto.NetworkAttachmentConfig Network(Random random) => new()
    {
        Target = Word(random),
        Aliases = { List(random, () => Word(random)) },
        DriverAttachmentOpts = { Map(random) },
    };

    private static Proto.FileTarget FileTarget(Random random) => new()
    {
        Name = Word(random),
        Uid = random.Next(0, 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        Gid = random.Next(0, 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
        Mode = (uint)random.Next(0, 512),
    };

    private static Proto.Annotations Annotations(Random random) => new() { Name = Word(random), Labels = { Map(random) } };

    private static Duration DurationOf(Random random) => Duration.FromTimeSpan(TimeSpan.FromTicks(random.NextInt64(0, TimeSpan.TicksPerHour)));

    private static Dictionary<string, string> Map(Random random) =>
        Enumerable.Range(0, random.Next(0, 3)).ToDictionary(i => Word(random) + i, _ => Word(random) + " with spaces & =");

    private static List<T> List<T>(Random random, Func<T> item) => [.. Enumerable.Range(0, random.Next(0, 3)).Select(_ => item())];

    private static T? Maybe<T>(Random random, Func<T> value)
        where T : class => random.Next(3) == 0 ? null : value();

    private static T Pick<T>(Random random, params T[] values) => values[random.Next(values.Length)];

    private static string Word(Random random) => "w" + random.Next(0, 10_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
