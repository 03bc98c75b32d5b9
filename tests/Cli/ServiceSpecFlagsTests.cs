using System.CommandLine;
using System.Text.Json;
using Shoal.Cli.Commands;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Tests;

/// <summary><c>service create</c>'s flags → the <see cref="ServiceSpec"/> docker would send for them.</summary>
public sealed class ServiceSpecFlagsTests
{
    [Fact]
    public void DockersObservedExample_MakesTheSameSpec()
    {
        // reference/docker-api-subset.md §2.4: the body docker 28 sent for this command line.
        var spec = Spec("--replicas", "3", "--name", "web", "--publish", "8080:80", "--env", "A=B", "--constraint", "node.role==worker",
            "--update-parallelism", "2", "--update-delay", "10s", "busybox:latest", "sleep", "1000");

        var json = JsonSerializer.Serialize(spec, DockerJsonContext.Default.ServiceSpec);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal("web", root.GetProperty("Name").GetString());
        Assert.Equal("{}", root.GetProperty("Labels").GetRawText());
        var container = root.GetProperty("TaskTemplate").GetProperty("ContainerSpec");
        Assert.Equal("""{"Image":"busybox:latest","Labels":{},"Args":["sleep","1000"],"Env":["A=B"],"Init":false,"DNSConfig":{}}""", container.GetRawText());
        Assert.Equal("""{"Constraints":["node.role==worker"]}""", root.GetProperty("TaskTemplate").GetProperty("Placement").GetRawText());
        Assert.False(root.GetProperty("TaskTemplate").TryGetProperty("RestartPolicy", out _));
        Assert.Equal("""{"Replicated":{"Replicas":3}}""", root.GetProperty("Mode").GetRawText());
        Assert.Equal(
            """{"Parallelism":2,"Delay":10000000000,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"}""",
            root.GetProperty("UpdateConfig").GetRawText());
        Assert.Equal(
            """{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}""",
            root.GetProperty("EndpointSpec").GetRawText());
    }

    [Fact]
    public void WithoutReplicas_TheCountIsLeftToTheSwarm_AndNoCommandMeansNoArgs()
    {
        var spec = Spec("nginx");

        Assert.NotNull(spec.Mode.Replicated);
        Assert.Null(spec.Mode.Replicated.Replicas);
        Assert.Null(spec.TaskTemplate.ContainerSpec!.Args);
        Assert.Null(spec.EndpointSpec!.Ports);
    }

    [Fact]
    public void Publish_ShortAndLongSyntax_RangesAndProtocols()
    {
        var spec = Spec("-p", "8080:80", "-p", "53:53/udp", "-p", "9000-9001:90-91", "-p", "443", "-p", "published=81,target=8081,mode=host", "img");

        Assert.Equal(
            [("tcp", 80u, 8080u, "ingress"), ("udp", 53u, 53u, "ingress"), ("tcp", 90u, 9000u, "ingress"), ("tcp", 91u, 9001u, "ingress"), ("tcp", 443u, 0u, "ingress"), ("tcp", 8081u, 81u, "host")],
            spec.EndpointSpec!.Ports!.Select(p => (p.Protocol, p.TargetPort, p.PublishedPort, p.PublishMode)));
    }

    [Theory]
    [InlineData("8080:80/icmp", "invalid protocol \"icmp\"")]
    [InlineData("127.0.0.1:8080:80", "without an IP address")]
    [InlineData("8080-8082:80-81", "differ in length")]
    [InlineData("0:80", "a port is a number from 1 to 65535")]
    [InlineData("published=80", "missing mandatory field \"target\"")]
    public void Publish_Malformed_IsRefusedWhileParsing_NamingTheFlag(string value, string reason)
    {
        var parse = Parse("-p", value, "img");

        var error = Assert.Single(parse.Errors).Message;
        Assert.StartsWith($"invalid argument \"{value}\" for \"--publish\" flag: ", error, StringComparison.Ordinal);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Env_KeyValueAsIs_ABareKeyTakesItsValueFromTheShell()
    {
        var spec = Spec(["-e", "A=B", "--env", "HOME", "-e", "UNSET", "img"], name => name == "HOME" ? "/root" : null);

        Assert.Equal(["A=B", "HOME=/root", "UNSET"], spec.TaskTemplate.ContainerSpec!.Env!);
    }

    [Fact]
    public void RestartFlags_MakeARestartPolicy_InNanoseconds()
    {
        var spec = Spec("--restart-condition", "on-failure", "--restart-delay", "5s", "--restart-max-attempts", "3", "--restart-window", "1m", "img");

        var policy = spec.TaskTemplate.RestartPolicy!;
        Assert.Equal((RestartConditions.OnFailure, 5_000_000_000L, 3UL, 60_000_000_000L), (policy.Condition, policy.Delay, policy.MaxAttempts, policy.Window));
    }

    [Fact]
    public void RestartCondition_NotOneOfTheThree_IsRefused()
    {
        var parse = Parse("--restart-condition", "sometimes", "img");

        Assert.Equal("invalid restart condition \"sometimes\", only none, on-failure and any are supported", Assert.Single(parse.Errors).Message);
    }

    [Fact]
    public void Resources_MemoryInBinaryUnits_CpusInBillionths()
    {
        var spec = Spec("--limit-memory", "64M", "--reserve-memory", "1.5g", "--limit-cpu", "0.5", "--reserve-cpu", "2", "img");

        var resources = spec.TaskTemplate.Resources!;
        Assert.Equal(64L * 1024 * 1024, resources.Limits!.MemoryBytes);
        Assert.Equal(1536L * 1024 * 1024, resources.Reservations!.MemoryBytes);
        Assert.Equal(500_000_000L, resources.Limits.NanoCPUs);
        Assert.Equal(2_000_000_000L, resources.Reservations.NanoCPUs);
    }

    [Theory]
    [InlineData("--limit-memory", "64X", "invalid size: '64X'")]
    [InlineData("--limit-cpu", "half", "failed to parse half")]
    [InlineData("--limit-cpu", "0.0000000001", "too precise")]
    public void Resources_Malformed_AreRefusedWhileParsing(string flag, string value, string reason)
    {
        var parse = Parse(flag, value, "img");

        Assert.Contains(reason, Assert.Single(parse.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PlacementLabelsAndContainerSettings_GoWhereDockerPutsThem()
    {
        var spec = Spec("-l", "team=web", "--container-label", "tier=front", "--constraint", "node.labels.zone==a", "--placement-pref", "spread=node.labels.zone",
            "--max-replicas", "2", "-w", "/srv", "-u", "www:www", "--stop-signal", "SIGINT", "--stop-grace-period", "30s", "img");

        Assert.Equal("web", spec.Labels!["team"]);
        var container = spec.TaskTemplate.ContainerSpec!;
        Assert.Equal(("front", "/srv", "www:www", "SIGINT", 30_000_000_000L), (container.Labels!["tier"], container.Dir, container.User, container.StopSignal, container.StopGracePeriod));
        var placement = spec.TaskTemplate.Placement!;
        Assert.Equal(["node.labels.zone==a"], placement.Constraints!);
        Assert.Equal("node.labels.zone", Assert.Single(placement.Preferences!).Spread!.SpreadDescriptor);
        Assert.Equal(2UL, placement.MaxReplicas);
    }

    [Fact]
    public void Modes_GlobalAndJobs_HaveTheirShapes_AndJobsRestartOnFailureWithoutAnUpdateConfig()
    {
        var global = Spec("--mode", "global", "img");
        var job = Spec("--mode", "replicated-job", "--replicas", "5", "--max-concurrent", "2", "img");
        var globalJob = Spec("--mode", "global-job", "img");

        Assert.NotNull(global.Mode.Global);
        Assert.NotNull(global.UpdateConfig);
        Assert.Equal((2UL, 5UL), (job.Mode.ReplicatedJob!.MaxConcurrent, job.Mode.ReplicatedJob.TotalCompletions));
        Assert.Null(job.UpdateConfig);
        Assert.Equal(RestartConditions.OnFailure, job.TaskTemplate.RestartPolicy!.Condition);
        Assert.NotNull(globalJob.Mode.GlobalJob);
    }

    [Fact]
    public void ReplicasWithGlobalMode_IsRefused_NamingTheMode()
    {
        var error = Assert.Throws<CommandException>(() => Spec("--mode", "global", "--replicas", "2", "img"));

        Assert.Equal("replicas can only be used with replicated or replicated-job mode (the mode is global)", error.Message);
    }

    [Fact]
    public void Command_KeepsTheCommandsOwnOptions_InOrder()
    {
        var spec = Spec("--name", "x", "busybox", "sh", "-c", "echo hi; sleep 5");
        var separated = Spec("--name", "x", "busybox", "--", "ls", "--name", "-l");

        Assert.Equal(["sh", "-c", "echo hi; sleep 5"], spec.TaskTemplate.ContainerSpec!.Args!);
        Assert.Equal(["ls", "--name", "-l"], separated.TaskTemplate.ContainerSpec!.Args!);
        Assert.Equal("x", separated.Name);
    }

    [Fact]
    public void Command_WithAFlagOfCreateAfterTheImage_IsRefused_PointingAtDoubleDash()
    {
        var error = Assert.Throws<CommandException>(() => Spec("busybox", "echo", "-e", "x"));
        var separated = Spec("busybox", "--", "echo", "-e", "x");

        Assert.StartsWith("flag -e comes after IMAGE", error.Message, StringComparison.Ordinal);
        Assert.Contains("IMAGE -- COMMAND", error.Message, StringComparison.Ordinal);
        Assert.Equal(["echo", "-e", "x"], separated.TaskTemplate.ContainerSpec!.Args!);
        Assert.Null(separated.TaskTemplate.ContainerSpec.Env);
    }

    [Fact]
    public void AMistypedFlagBeforeTheImage_IsAnUnknownFlag_NotAnImage()
    {
        var error = Assert.Throws<CommandException>(() => Spec("--replica", "3", "busybox"));

        Assert.Equal("unknown flag: --replica\nSee 'shoal service create --help'.", error.Message);
    }

    private static ServiceSpec Spec(params string[] args) => Spec(args, _ => null);

    private static ServiceSpec Spec(string[] args, Func<string, string?> variable)
    {
        var flags = new ServiceSpecFlags();
        var parse = Parse(flags, args);
        Assert.Empty(parse.Errors);
        return flags.ToSpec(parse, variable);
    }

    private static ParseResult Parse(params string[] args) => Parse(new ServiceSpecFlags(), args);

    private static ParseResult Parse(ServiceSpecFlags flags, string[] args)
    {
        var command = new Command("create") { TreatUnmatchedTokensAsErrors = false };
        flags.AddTo(command);
        return command.Parse(args);
    }
}
