using Shoal.Api.Validation;

namespace Shoal.Api.Tests.Validation;

public class ServiceSpecValidationTests
{
    [Fact]
    public void MinimalReplicatedService_IsAccepted() => Expect.Accepted(SpecValidator.Validate(Specs.Service()));

    [Fact]
    public void NullSpec_IsRejected_NotDereferenced() =>
        Expect.Rejected(SpecValidator.Validate((ServiceSpec?)null), "service (no name): spec must be provided");

    [Fact]
    public void EmptySpec_ReportsEveryMissingPart_NotJustTheFirst()
    {
        var result = SpecValidator.Validate(new ServiceSpec());

        Expect.Rejected(result, "service (no name): name must be provided");
        Expect.Rejected(result, "mode must be set");
        Expect.Rejected(result, "task must be provided");
        Assert.Equal(3, result.Errors.Count);
    }

    // ---- names

    [Theory]
    [InlineData("web")]
    [InlineData("a")]
    [InlineData("Web-1")]
    [InlineData("my_service")]
    [InlineData("a--b__c")]
    [InlineData("123")]
    public void DnsLabelNames_AreAccepted(string name) => Expect.Accepted(SpecValidator.Validate(Specs.Service(name)));

    [Theory]
    [InlineData("-web")]
    [InlineData("web-")]
    [InlineData("_web")]
    [InlineData("web.prod")]
    [InlineData("web prod")]
    [InlineData("wéb")]
    [InlineData("web\n")]
    public void NamesThatAreNotDnsLabels_AreRejected_WithTheName(string name) =>
        Expect.Rejected(SpecValidator.Validate(Specs.Service(name)), "is not a valid DNS label");

    [Fact]
    public void NameLongerThan63Characters_IsRejected_WithItsLength()
    {
        Expect.Accepted(SpecValidator.Validate(Specs.Service(new string('a', 63))));
        Expect.Rejected(SpecValidator.Validate(Specs.Service(new string('a', 64))), "name must be 63 characters or fewer", "got 64");
    }

    [Fact]
    public void MessagesOfAnUnnamedService_SayNoName()
    {
        var spec = Specs.Service(string.Empty);
        spec.Replicated.Replicas = -1;

        Expect.Rejected(SpecValidator.Validate(spec), "service (no name): replicas must be >= 0, got -1");
    }

    [Fact]
    public void HostileName_IsQuotedEscapedAndTruncated_InMessages()
    {
        var spec = Specs.Service("evil\u0001\n\"" + new string('x', 500));

        var error = Expect.Rejected(SpecValidator.Validate(spec), "name must be 63 characters or fewer");

        Assert.StartsWith("service \"evil\\u0001\\n\\\"xxx", error, StringComparison.Ordinal);
        Assert.Contains("(507 characters)", error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
    }

    [Fact]
    public void LabelWithEmptyKey_IsRejected()
    {
        var spec = Specs.Service();
        spec.Annotations.Labels[string.Empty] = "x";
        spec.Container().Labels[string.Empty] = "y";

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "service \"web\": labels has an empty key");
        Expect.Rejected(result, "task.container.labels has an empty key");
    }

    // ---- mode

    [Fact]
    public void ReplicasBelowZero_IsRejected_WithTheValue()
    {
        var spec = Specs.Service();
        spec.Replicated.Replicas = -1;

        var error = Expect.Rejected(SpecValidator.Validate(spec), "replicas must be >= 0, got -1");
        Assert.Equal("service \"web\": replicas must be >= 0, got -1", error);
    }

    [Fact]
    public void ZeroReplicas_IsAccepted()
    {
        var spec = Specs.Service();
        spec.Replicated.Replicas = 0;
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Fact]
    public void SpecWithoutMode_IsRejected()
    {
        var spec = Specs.Service();
        spec.ClearMode();
        Expect.Rejected(SpecValidator.Validate(spec), "mode must be set: one of replicated, global, replicated_job or global_job");
    }

    [Fact]
    public void GlobalAndJobModes_AreAccepted()
    {
        var global = Specs.Service();
        global.Global = new GlobalService();
        var globalJob = Specs.Service();
        globalJob.GlobalJob = new GlobalJob();
        var replicatedJob = Specs.Service();
        replicatedJob.ReplicatedJob = new ReplicatedJob { MaxConcurrent = 2, TotalCompletions = 10 };

        Expect.Accepted(SpecValidator.Validate(global));
        Expect.Accepted(SpecValidator.Validate(globalJob));
        Expect.Accepted(SpecValidator.Validate(replicatedJob));
    }

    [Fact]
    public void ReplicatedJobWithNegativeCounts_IsRejected_ForEachCount()
    {
        var spec = Specs.Service();
        spec.ReplicatedJob = new ReplicatedJob { MaxConcurrent = -2, TotalCompletions = -3 };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "replicated_job.max_concurrent must be >= 0, got -2");
        Expect.Rejected(result, "replicated_job.total_completions must be >= 0, got -3");
    }

    [Fact]
    public void JobWithUpdateConfig_IsRejected()
    {
        var spec = Specs.Service();
        spec.GlobalJob = new GlobalJob();
        spec.Update = new UpdateConfig { Parallelism = 1 };

        Expect.Rejected(SpecValidator.Validate(spec), "update must not be set for a job");
    }

    // ---- task and runtime

    [Fact]
    public void TaskWithoutRuntime_IsRejected()
    {
        var spec = Specs.Service();
        spec.Task.ClearRuntime();
        Expect.Rejected(SpecValidator.Validate(spec), "task has no runtime: set task.container");
    }

    [Fact]
    public void AttachmentRuntime_IsRejected_ForServices()
    {
        var spec = Specs.Service();
        spec.Task.Attachment = new NetworkAttachmentSpec { ContainerId = "abc" };
        Expect.Rejected(SpecValidator.Validate(spec), "task.attachment cannot be used in a service");
    }

    [Fact]
    public void PluginRuntime_NeedsNameAndRemote()
    {
        var spec = Specs.Service();
        spec.Task.Plugin = new PluginSpec();
        var result = SpecValidator.Validate(spec);
        Expect.Rejected(result, "task.plugin.name must be provided");
        Expect.Rejected(result, "task.plugin.remote must be provided");

        spec.Task.Plugin = new PluginSpec { Name = "sshfs", Remote = "vieux/sshfs:latest" };
        spec.Task.RuntimeName = "plugin";
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("container", true)]
    [InlineData("plugin", false)]
    [InlineData("vm", false)]
    public void RuntimeName_MustAgreeWithTheRuntimeGiven(string runtimeName, bool accepted)
    {
        var spec = Specs.Service();
        spec.Task.RuntimeName = runtimeName;

        var result = SpecValidator.Validate(spec);

        if (accepted)
        {
            Expect.Accepted(result);
        }
        else
        {
            Expect.Rejected(result, "task.runtime_name", $"\"{runtimeName}\"");
        }
    }

    // ---- image

    [Theory]
    [InlineData("nginx")]
    [InlineData("nginx:1.25")]
    [InlineData("nginx:latest")]
    [InlineData("library/nginx")]
    [InlineData("docker.io/library/nginx:1.25-alpine")]
    [InlineData("localhost:5000/team/app:v1.2.3")]
    [InlineData("registry.example.com/a/b/c")]
    [InlineData("Registry.Example.com/app")]
    [InlineData("[2001:db8::1]:5000/app:1")]
    [InlineData("my_app__x/y-z.w")]
    [InlineData("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("nginx:1.25@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void ValidImageReferences_AreAccepted(string image)
    {
        var spec = Specs.Service();
        spec.Container().Image = image;
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Theory]
    [InlineData("Nginx", "must be lowercase")]
    [InlineData("library/Nginx", "must be lowercase")]
    [InlineData("nginx latest", "is not a valid reference")]
    [InlineData(" nginx", "is not a valid reference")]
    [InlineData("nginx\n", "is not a valid reference")]
    [InlineData("nginx:", "invalid tag")]
    [InlineData("nginx:-x", "invalid tag")]
    [InlineData("nginx:a/b", "is not a valid reference")]
    [InlineData(":latest", "has no repository name")]
    [InlineData("nginx//x", "is not a valid reference")]
    [InlineData("-nginx", "is not a valid reference")]
    [InlineData("nginx@sha256:abc", "not 64 lowercase hexadecimal digits")]
    [InlineData("nginx@md5:0123456789abcdef0123456789abcdef", "unsupported algorithm")]
    [InlineData("nginx@", "malformed digest")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "64-character hexadecimal image ID")]
    public void InvalidImageReferences_AreRejected_WithTheReason(string image, string reason)
    {
        var spec = Specs.Service();
        spec.Container().Image = image;
        Expect.Rejected(SpecValidator.Validate(spec), "task.container.image", reason);
    }

    [Fact]
    public void MissingImage_IsRejected()
    {
        var spec = Specs.Service();
        spec.Container().Image = string.Empty;
        Expect.Rejected(SpecValidator.Validate(spec), "service \"web\": task.container.image must be provided");
    }

    [Fact]
    public void ImageTagLongerThan128Characters_IsRejected()
    {
        var spec = Specs.Service();
        spec.Container().Image = "nginx:" + new string('a', 128);
        Expect.Accepted(SpecValidator.Validate(spec));
        spec.Container().Image = "nginx:" + new string('a', 129);
        Expect.Rejected(SpecValidator.Validate(spec), "invalid tag");
    }

    [Fact]
    public void ImageNameLongerThan255Characters_IsRejected()
    {
        var spec = Specs.Service();
        spec.Container().Image = new string('a', 256);
        Expect.Rejected(SpecValidator.Validate(spec), "longer than 255 characters");
    }

    // ---- env

    [Fact]
    public void EnvEntriesThatAreEmptyOrStartWithEquals_AreRejected_WithTheirIndex()
    {
        var spec = Specs.Service();
        spec.Container().Env.Add(["A=1", "B", string.Empty, "=x", "C="]);

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.container.env[2] is empty");
        Expect.Rejected(result, "task.container.env[3] \"=x\" has no variable name before '='");
        Assert.Equal(2, result.Errors.Count);
    }

    // ---- resources

    [Fact]
    public void NegativeResources_AreRejected_EachWithItsField()
    {
        var spec = Specs.Service();
        spec.Task.Resources = new ResourceRequirements
        {
            Limits = new ResourceLimits { NanoCpus = -1, MemoryBytes = -2, Pids = -3 },
            Reservations = new Resources { NanoCpus = -4, MemoryBytes = -5 },
        };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.resources.limits.nano_cpus must be >= 0, got -1");
        Expect.Rejected(result, "task.resources.limits.memory_bytes must be >= 0, got -2");
        Expect.Rejected(result, "task.resources.limits.pids must be >= 0, got -3");
        Expect.Rejected(result, "task.resources.reservations.nano_cpus must be >= 0, got -4");
        Expect.Rejected(result, "task.resources.reservations.memory_bytes must be >= 0, got -5");
    }

    [Fact]
    public void TinyCpuAndMemory_AreRejected_AsSwarmKitDoes()
    {
        var spec = Specs.Service();
        spec.Task.Resources = new ResourceRequirements { Limits = new ResourceLimits { NanoCpus = 999_999, MemoryBytes = 4 * 1024 * 1024 - 1 } };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.resources.limits.nano_cpus must be 0 (none) or at least 1000000 (0.001 CPU), got 999999");
        Expect.Rejected(result, "task.resources.limits.memory_bytes must be 0 (none) or at least 4194304 (4 MiB), got 4194303");
    }

    [Fact]
    public void ReservationAboveLimit_IsRejected()
    {
        var spec = Specs.Service();
        spec.Task.Resources = new ResourceRequirements
        {
            Limits = new ResourceLimits { NanoCpus = 1_000_000_000, MemoryBytes = 256L << 20 },
            Reservations = new Resources { NanoCpus = 2_000_000_000, MemoryBytes = 512L << 20 },
        };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.resources.reservations.nano_cpus (2000000000) must not exceed task.resources.limits.nano_cpus (1000000000)");
        Expect.Rejected(result, "task.resources.reservations.memory_bytes (536870912) must not exceed task.resources.limits.memory_bytes (268435456)");
    }

    [Fact]
    public void ReservationWithoutLimit_AndReservationEqualToLimit_AreAccepted()
    {
        var spec = Specs.Service();
        spec.Task.Resources = new ResourceRequirements
        {
            Limits = new ResourceLimits { MemoryBytes = 256L << 20 },
            Reservations = new Resources { NanoCpus = 2_000_000_000, MemoryBytes = 256L << 20 },
        };
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Fact]
    public void GenericResources_NeedAKindAndANonNegativeCount()
    {
        var spec = Specs.Service();
        spec.Task.Resources = new ResourceRequirements { Reservations = new Resources() };
        spec.Task.Resources.Reservations.Generic.Add(new GenericResource { Discrete = new DiscreteGenericResource { Kind = "gpu", Value = 1 } });
        spec.Task.Resources.Reservations.Generic.Add(new GenericResource { Discrete = new DiscreteGenericResource { Kind = string.Empty, Value = -1 } });
        spec.Task.Resources.Reservations.Generic.Add(new GenericResource());

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.resources.reservations.generic[1].discrete.kind must be provided");
        Expect.Rejected(result, "task.resources.reservations.generic[1].discrete.value must be >= 0, got -1");
        Expect.Rejected(result, "task.resources.reservations.generic[2] must be either discrete or named");
        Assert.Equal(3, result.Errors.Count);
    }

    // ---- restart policy

    [Fact]
    public void RestartPolicyWithNegativeValues_IsRejected()
    {
        var spec = Specs.Service();
        spec.Task.Restart = new RestartPolicy
        {
            Condition = RestartCondition.OnFailure,
            Delay = Specs.Seconds(-1),
            Window = Specs.Seconds(-0.5),
            MaxAttempts = -1,
        };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.restart.delay must be >= 0, got -1s");
        Expect.Rejected(result, "task.restart.window must be >= 0, got -500ms");
        Expect.Rejected(result, "task.restart.max_attempts must be >= 0 (or unset for unlimited), got -1");
    }

    [Fact]
    public void RestartPolicyWithZeroAttempts_IsAccepted() // 0 = never restart
    {
        var spec = Specs.Service();
        spec.Task.Restart = new RestartPolicy { Condition = RestartCondition.None, MaxAttempts = 0, Delay = Specs.Seconds(0) };
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Fact]
    public void UnknownEnumValueFromTheWire_IsRejected()
    {
        var spec = Specs.Service();
        spec.Task.Restart = new RestartPolicy { Condition = (RestartCondition)42 };
        Expect.Rejected(SpecValidator.Validate(spec), "task.restart.condition has unknown value 42");
    }

    // ---- placement

    [Theory]
    [InlineData("node.role==manager")]
    [InlineData("node.role != Worker")]
    [InlineData("node.hostname==node-1")]
    [InlineData("node.id==2ivku8v2gvtg4")]
    [InlineData("node.platform.os==linux")]
    [InlineData("node.platform.arch!=x86_64")]
    [InlineData("node.labels.zone==eu-west-1a")]
    [InlineData("NODE.LABELS.Zone==a")]
    [InlineData("engine.labels.storage==ssd")]
    [InlineData("node.ip==10.0.0.4")]
    [InlineData("node.ip!=192.168.0.0/16")]
    [InlineData("node.ip==2001:db8::/32")]
    public void KnownConstraints_AreAccepted(string constraint)
    {
        var spec = Specs.Service();
        spec.Task.Placement = new Placement { Constraints = { constraint } };
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Theory]
    [InlineData("node.role=manager", "has no operator")]
    [InlineData("node.role", "has no operator")]
    [InlineData("==manager", "has no key")]
    [InlineData("node.role==", "has no value")]
    [InlineData("node.role==boss", "other than manager or worker")]
    [InlineData("node.labels==x", "unknown key")]
    [InlineData("node.labels.==x", "unknown key")]
    [InlineData("node.name==x", "unknown key")]
    [InlineData("1node.id==x", "invalid key")]
    [InlineData("node.id==a<b", "invalid value")]
    [InlineData("node.id==é", "invalid value")]
    [InlineData("node.ip==10.0.0.256", "neither an IP address nor a CIDR block")]
    [InlineData("node.ip==010.0.0.1", "neither an IP address nor a CIDR block")]
    public void MalformedConstraints_AreRejected_WithTheReason(string constraint, string reason)
    {
        var spec = Specs.Service();
        spec.Task.Placement = new Placement { Constraints = { "node.role==worker", constraint } };
        Expect.Rejected(SpecValidator.Validate(spec), "task.placement.constraints[1]", reason);
    }

    [Fact]
    public void SpreadPreferences_MustNameANodeOrEngineLabel()
    {
        var spec = Specs.Service();
        spec.Task.Placement = new Placement
        {
            Preferences =
            {
                new PlacementPreference { Spread = new SpreadOver { SpreadDescriptor = "node.labels.zone" } },
                new PlacementPreference { Spread = new SpreadOver { SpreadDescriptor = "engine.labels.rack" } },
                new PlacementPreference { Spread = new SpreadOver { SpreadDescriptor = string.Empty } },
                new PlacementPreference { Spread = new SpreadOver { SpreadDescriptor = "node.hostname" } },
                new PlacementPreference(),
            },
        };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.placement.preferences[2].spread.spread_descriptor must be provided");
        Expect.Rejected(result, "task.placement.preferences[3].spread.spread_descriptor \"node.hostname\" must be node.labels.<label> or engine.labels.<label>");
        Expect.Rejected(result, "task.placement.preferences[4] must set spread");
        Assert.Equal(3, result.Errors.Count);
    }

    [Fact]
    public void NegativeMaxReplicasPerNode_IsRejected()
    {
        var spec = Specs.Service();
        spec.Task.Placement = new Placement { MaxReplicas = -1 };
        Expect.Rejected(SpecValidator.Validate(spec), "task.placement.max_replicas must be >= 0 (0 = unlimited), got -1");
    }

    // ---- update and rollback

    [Fact]
    public void UpdateAndRollbackConfigs_AreCheckedAlike()
    {
        var spec = Specs.Service();
        spec.Update = new UpdateConfig { Parallelism = -1, Delay = Specs.Seconds(-2), Monitor = Specs.Seconds(-3), MaxFailureRatio = 1.5f };
        spec.Rollback = new UpdateConfig { Parallelism = -4, MaxFailureRatio = -0.1f };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "update.parallelism must be >= 0 (0 = all at once), got -1");
        Expect.Rejected(result, "update.delay must be >= 0, got -2s");
        Expect.Rejected(result, "update.monitor must be >= 0, got -3s");
        Expect.Rejected(result, "update.max_failure_ratio must be between 0 and 1, got 1.5");
        Expect.Rejected(result, "rollback.parallelism must be >= 0 (0 = all at once), got -4");
        Expect.Rejected(result, "rollback.max_failure_ratio must be between 0 and 1, got -0.1");
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "Infinity")]
    [InlineData(float.NegativeInfinity, "-Infinity")]
    public void NonFiniteFailureRatio_IsRejected(float ratio, string shown)
    {
        var spec = Specs.Service();
        spec.Update = new UpdateConfig { MaxFailureRatio = ratio };
        Expect.Rejected(SpecValidator.Validate(spec), $"update.max_failure_ratio must be between 0 and 1, got {shown}");
    }

    [Fact]
    public void FailureRatioBounds_AreInclusive()
    {
        var spec = Specs.Service();
        spec.Update = new UpdateConfig { MaxFailureRatio = 1f, Parallelism = 0, Delay = Specs.Seconds(0) };
        spec.Rollback = new UpdateConfig { MaxFailureRatio = 0f };
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    // ---- endpoint

    [Fact]
    public void PortsOutOfRange_AreRejected_WithThePort()
    {
        var spec = Specs.Service();
        spec.Endpoint = new EndpointSpec
        {
            Ports =
            {
                new PortConfig { TargetPort = 80, PublishedPort = 70000 },
                new PortConfig { TargetPort = 0, PublishedPort = 8080 },
                new PortConfig { TargetPort = 65536 },
            },
        };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "service \"web\": endpoint.ports[0]: published port 70000 is out of range (1-65535)");
        Expect.Rejected(result, "endpoint.ports[1]: target port 0 is out of range (1-65535)");
        Expect.Rejected(result, "endpoint.ports[2]: target port 65536 is out of range (1-65535)");
    }

    [Fact]
    public void SamePublishedPortAndProtocolTwice_IsRejected_ButDynamicAndOtherProtocolsAreNot()
    {
        var spec = Specs.Service();
        spec.Endpoint = new EndpointSpec
        {
            Ports =
            {
                new PortConfig { TargetPort = 80, PublishedPort = 8080 },
                new PortConfig { TargetPort = 81, PublishedPort = 8080, Protocol = PortProtocol.Udp },
                new PortConfig { TargetPort = 82 },
                new PortConfig { TargetPort = 83 },
            },
        };
        Expect.Accepted(SpecValidator.Validate(spec));

        spec.Endpoint.Ports.Add(new PortConfig { TargetPort = 84, PublishedPort = 8080 });
        Expect.Rejected(SpecValidator.Validate(spec), "endpoint.ports[4]: published port 8080/tcp is published more than once");
    }

    [Fact]
    public void DuplicatePublishedPorts_AreFound_InLongPortLists()
    {
        var spec = Specs.Service();
        spec.Endpoint = new EndpointSpec();
        for (uint port = 1; port <= 100; port++)
        {
            spec.Endpoint.Ports.Add(new PortConfig { TargetPort = port, PublishedPort = 30000 + port });
        }

        Expect.Accepted(SpecValidator.Validate(spec));
        spec.Endpoint.Ports.Add(new PortConfig { TargetPort = 1, PublishedPort = 30050 });
        Expect.Rejected(SpecValidator.Validate(spec), "endpoint.ports[100]: published port 30050/tcp is published more than once");
    }

    [Fact]
    public void DnsrrWithIngressPorts_IsRejected_ButHostModePortsAreAllowed()
    {
        var spec = Specs.Service();
        spec.Endpoint = new EndpointSpec
        {
            Mode = ResolutionMode.Dnsrr,
            Ports = { new PortConfig { TargetPort = 80, PublishedPort = 8080, PublishMode = PublishMode.Host } },
        };
        Expect.Accepted(SpecValidator.Validate(spec));

        spec.Endpoint.Ports.Add(new PortConfig { TargetPort = 443, PublishedPort = 8443, PublishMode = PublishMode.Ingress });
        Expect.Rejected(SpecValidator.Validate(spec), "endpoint.ports[1]: port published in ingress mode cannot be used with dnsrr endpoint mode");
    }

    // ---- health check

    [Theory]
    [InlineData("NONE")]
    [InlineData("CMD", "curl", "-f", "http://localhost")]
    [InlineData("CMD-SHELL", "curl -f http://localhost || exit 1")]
    public void HealthCheckTests_InDockerForm_AreAccepted(params string[] test)
    {
        var spec = Specs.Service();
        spec.Container().Healthcheck = new HealthConfig { Test = { test }, Interval = Specs.Seconds(30), Retries = 3 };
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Theory]
    [InlineData("must start with NONE, CMD or CMD-SHELL, got \"curl\"", "curl", "-f")]
    [InlineData("must start with NONE, CMD or CMD-SHELL, got \"cmd\"", "cmd", "true")]
    [InlineData("\"CMD\" must be followed by the command to run", "CMD")]
    [InlineData("\"CMD-SHELL\" must be followed by the command to run", "CMD-SHELL")]
    public void HealthCheckTests_NotInDockerForm_AreRejected(string reason, params string[] test)
    {
        var spec = Specs.Service();
        spec.Container().Healthcheck = new HealthConfig { Test = { test } };
        Expect.Rejected(SpecValidator.Validate(spec), "task.container.healthcheck.test", reason);
    }

    [Fact]
    public void HealthCheckDurations_MustBeZeroOrAtLeastOneMillisecond_AndRetriesNonNegative()
    {
        var spec = Specs.Service();
        spec.Container().Healthcheck = new HealthConfig
        {
            Interval = Specs.Raw(0, 999_999),
            Timeout = Specs.Seconds(-1),
            StartPeriod = Specs.Raw(0, 1),
            StartInterval = Specs.Raw(0, 1_000_000),
            Retries = -1,
        };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.container.healthcheck.interval must be 0 (the default) or at least 1ms, got 999.999µs");
        Expect.Rejected(result, "task.container.healthcheck.timeout must be >= 0, got -1s");
        Expect.Rejected(result, "task.container.healthcheck.start_period must be 0 (the default) or at least 1ms, got 1ns");
        Expect.Rejected(result, "task.container.healthcheck.retries must be >= 0, got -1");
        Assert.Equal(4, result.Errors.Count); // start_interval of exactly 1 ms is fine
    }

    // ---- durations in general

    [Fact]
    public void NegativeStopGracePeriod_IsRejected()
    {
        var spec = Specs.Service();
        spec.Container().StopGracePeriod = Specs.Seconds(-10);
        Expect.Rejected(SpecValidator.Validate(spec), "task.container.stop_grace_period must be >= 0, got -10s");
    }

    [Theory]
    [InlineData(1, -1)]
    [InlineData(-1, 1)]
    [InlineData(0, 1_000_000_000)]
    [InlineData(0, int.MinValue)]
    [InlineData(315_576_000_001, 0)]
    [InlineData(long.MinValue, 0)]
    public void MalformedDurations_AreRejected_WithTheirRawFields(long seconds, int nanos)
    {
        var spec = Specs.Service();
        spec.Container().StopGracePeriod = Specs.Raw(seconds, nanos);
        Expect.Rejected(SpecValidator.Validate(spec), "task.container.stop_grace_period is not a valid duration", $"(seconds={seconds}, nanos={nanos})");
    }

    [Fact]
    public void LargestWellFormedDuration_IsAccepted()
    {
        var spec = Specs.Service();
        spec.Container().StopGracePeriod = Specs.Raw(315_576_000_000, 999_999_999);
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    // ---- mounts

    [Fact]
    public void WellFormedMounts_AreAccepted()
    {
        var spec = Specs.Service();
        spec.Container().Mounts.Add(new[]
        {
            new Mount { Type = Mount.Types.Type.Bind, Source = "/srv/data", Target = "/data", BindOptions = new Mount.Types.BindOptions() },
            new Mount { Type = Mount.Types.Type.Volume, Source = "pgdata", Target = "/var/lib/postgresql/data", VolumeOptions = new Mount.Types.VolumeOptions { NoCopy = true } },
            new Mount { Type = Mount.Types.Type.Volume, Target = "/anonymous" },
            new Mount { Type = Mount.Types.Type.Tmpfs, Target = "/tmp", TmpfsOptions = new Mount.Types.TmpfsOptions { SizeBytes = 64 << 20 } },
        });
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Fact]
    public void MountTargets_MustBeAbsolute_NotRoot_AndUnique()
    {
        var spec = Specs.Service();
        spec.Container().Mounts.Add(new[]
        {
            new Mount { Type = Mount.Types.Type.Volume, Source = "a", Target = string.Empty },
            new Mount { Type = Mount.Types.Type.Volume, Source = "b", Target = "data" },
            new Mount { Type = Mount.Types.Type.Volume, Source = "c", Target = "/" },
            new Mount { Type = Mount.Types.Type.Volume, Source = "d", Target = "/data" },
            new Mount { Type = Mount.Types.Type.Tmpfs, Target = "/data" },
        });

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.container.mounts[0].target must be provided");
        Expect.Rejected(result, "task.container.mounts[1].target \"data\" must be an absolute path");
        Expect.Rejected(result, "task.container.mounts[2].target cannot be \"/\"");
        Expect.Rejected(result, "task.container.mounts[4].target \"/data\" is already a mount point");
        Assert.Equal(4, result.Errors.Count);
    }

    [Fact]
    public void BindMounts_NeedAnAbsoluteSource_TmpfsMountsHaveNone()
    {
        var spec = Specs.Service();
        spec.Container().Mounts.Add(new[]
        {
            new Mount { Type = Mount.Types.Type.Bind, Target = "/a" },
            new Mount { Type = Mount.Types.Type.Bind, Source = "relative/dir", Target = "/b" },
            new Mount { Type = Mount.Types.Type.Tmpfs, Source = "/host", Target = "/c", TmpfsOptions = new Mount.Types.TmpfsOptions { SizeBytes = -1 } },
        });

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.container.mounts[0].source must be provided for a bind mount");
        Expect.Rejected(result, "task.container.mounts[1].source \"relative/dir\" must be an absolute host path");
        Expect.Rejected(result, "task.container.mounts[2].source must be empty for a tmpfs mount, got \"/host\"");
        Expect.Rejected(result, "task.container.mounts[2].tmpfs_options.size_bytes must be >= 0, got -1");
    }

    [Fact]
    public void MountOptions_OnlyForTheirOwnMountType()
    {
        var spec = Specs.Service();
        spec.Container().Mounts.Add(new[]
        {
            new Mount { Type = Mount.Types.Type.Bind, Source = "/a", Target = "/a", VolumeOptions = new Mount.Types.VolumeOptions() },
            new Mount { Type = Mount.Types.Type.Volume, Target = "/b", BindOptions = new Mount.Types.BindOptions(), TmpfsOptions = new Mount.Types.TmpfsOptions() },
        });

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.container.mounts[0].volume_options are only allowed for volume mounts, this one is bind");
        Expect.Rejected(result, "task.container.mounts[1].bind_options are only allowed for bind mounts, this one is volume");
        Expect.Rejected(result, "task.container.mounts[1].tmpfs_options are only allowed for tmpfs mounts, this one is volume");
    }

    // ---- secret and config references

    [Fact]
    public void SecretReferences_NeedIdNameAndAUniqueFileTarget()
    {
        var spec = Specs.Service();
        spec.Container().Secrets.Add(new[]
        {
            new SecretReference { SecretId = "s1", SecretName = "db", File = new FileTarget { Name = "db" } },
            new SecretReference { SecretId = string.Empty, SecretName = "api", File = new FileTarget { Name = "api" } },
            new SecretReference { SecretId = "s3", SecretName = "tls" },
            new SecretReference { SecretId = "s4", SecretName = "key", File = new FileTarget() },
            new SecretReference { SecretId = "s5", SecretName = "db2", File = new FileTarget { Name = "db" } },
        });

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.container.secrets[1] must give both secret_id and secret_name, got id \"\" and name \"api\"");
        Expect.Rejected(result, "task.container.secrets[2] (\"tls\") has no target");
        Expect.Rejected(result, "task.container.secrets[3] (\"key\") file.name must be provided");
        Expect.Rejected(result, "secret references \"db\" and \"db2\" have the same target file \"db\"");
        Assert.Equal(4, result.Errors.Count);
    }

    [Fact]
    public void ConfigReferences_NeedIdNameAndAUniqueFileTarget_RuntimeTargetsMayRepeat()
    {
        var spec = Specs.Service();
        spec.Container().Configs.Add(new[]
        {
            new ConfigReference { ConfigId = "c1", ConfigName = "nginx", File = new FileTarget { Name = "/etc/nginx.conf" } },
            new ConfigReference { ConfigId = "c2", ConfigName = "cred", Runtime = new RuntimeTarget() },
            new ConfigReference { ConfigId = "c3", ConfigName = "cred2", Runtime = new RuntimeTarget() },
            new ConfigReference { ConfigId = "c4", ConfigName = string.Empty },
            new ConfigReference { ConfigId = "c5", ConfigName = "nginx2", File = new FileTarget { Name = "/etc/nginx.conf" } },
        });

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.container.configs[3] must give both config_id and config_name");
        Expect.Rejected(result, "task.container.configs[3] (\"\") has no target: set file or runtime");
        Expect.Rejected(result, "config references \"nginx\" and \"nginx2\" have the same target file \"/etc/nginx.conf\"");
        Assert.Equal(3, result.Errors.Count);
    }

    [Fact]
    public void DuplicateSecretTargets_AreFound_InLongReferenceLists()
    {
        var spec = Specs.Service();
        for (var i = 0; i < 40; i++)
        {
            spec.Container().Secrets.Add(new SecretReference { SecretId = $"id{i}", SecretName = $"s{i}", File = new FileTarget { Name = $"f{i}" } });
        }

        Expect.Accepted(SpecValidator.Validate(spec));
        spec.Container().Secrets.Add(new SecretReference { SecretId = "x", SecretName = "late", File = new FileTarget { Name = "f7" } });
        Expect.Rejected(SpecValidator.Validate(spec), "secret references \"s7\" and \"late\" have the same target file \"f7\"");
    }

    [Fact]
    public void CredentialSpecConfig_MustBeReferencedWithARuntimeTarget()
    {
        var spec = Specs.Service();
        spec.Container().Privileges = new Privileges { CredentialSpec = new Privileges.Types.CredentialSpec { Config = "c2" } };
        spec.Container().Configs.Add(new ConfigReference { ConfigId = "c2", ConfigName = "cred", File = new FileTarget { Name = "cred" } });
        Expect.Rejected(SpecValidator.Validate(spec), "task.container.privileges.credential_spec names config \"c2\"");

        spec.Container().Configs.Add(new ConfigReference { ConfigId = "c2", ConfigName = "cred", Runtime = new RuntimeTarget() });
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    // ---- the rest of the container

    [Fact]
    public void Ulimits_NeedANameAndSoftAtMostHard()
    {
        var spec = Specs.Service();
        spec.Container().Ulimits.Add(new[]
        {
            new Ulimit { Name = "nofile", Soft = 1024, Hard = 4096 },
            new Ulimit { Name = "core", Soft = -1, Hard = -1 },
            new Ulimit { Name = string.Empty, Soft = 1, Hard = 1 },
            new Ulimit { Name = "nproc", Soft = 10, Hard = 5 },
            new Ulimit { Name = "stack", Soft = -5, Hard = 5 },
        });

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.container.ulimits[2].name must be provided");
        Expect.Rejected(result, "task.container.ulimits[3] (\"nproc\") soft limit 10 must not exceed hard limit 5");
        Expect.Rejected(result, "task.container.ulimits[4] (\"stack\") limits must be >= 0 or -1 (unlimited)");
        Assert.Equal(3, result.Errors.Count);
    }

    [Theory]
    [InlineData(-1001)]
    [InlineData(1001)]
    public void OomScoreAdjOutsideKernelRange_IsRejected(long value)
    {
        var spec = Specs.Service();
        spec.Container().OomScoreAdj = value;
        Expect.Rejected(SpecValidator.Validate(spec), $"task.container.oom_score_adj must be between -1000 and 1000, got {value}");
    }

    [Fact]
    public void NetworkAttachments_NeedATarget()
    {
        var spec = Specs.Service();
        spec.Task.Networks.Add(new NetworkAttachmentConfig { Target = "backend" });
        spec.Task.Networks.Add(new NetworkAttachmentConfig());
        spec.Networks.Add(new NetworkAttachmentConfig());

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "task.networks[1].target must be provided");
        Expect.Rejected(result, "service \"web\": networks[0].target must be provided");
    }

    // ---- EnsureValid

    [Fact]
    public void EnsureValid_ThrowsSpecValidationException_CarryingEveryError()
    {
        var spec = Specs.Service();
        spec.Replicated.Replicas = -1;
        spec.Container().Image = string.Empty;

        var exception = Assert.Throws<SpecValidationException>(() => SpecValidator.EnsureValid(spec));

        Assert.Equal(2, exception.Errors.Count);
        Assert.Equal(string.Join("; ", exception.Errors), exception.Message);
        Assert.Contains("service \"web\": replicas must be >= 0, got -1", exception.Errors);
    }

    [Fact]
    public void EnsureValid_ReturnsQuietly_ForAValidSpec() => SpecValidator.EnsureValid(Specs.Service());

    [Fact]
    public void ValidatingAValidSpec_ReturnsTheSharedValidResult() =>
        Assert.Same(ValidationResult.Valid, SpecValidator.Validate(Specs.Service()));
}
