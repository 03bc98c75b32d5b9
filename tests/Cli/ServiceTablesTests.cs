using Shoal.Cli.Output;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Tests;

/// <summary>The cells of <c>service ls</c> and <c>service ps</c>, as docker's formatters fill them.</summary>
public sealed class ServiceTablesTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ServiceLs_ShowsRunningOverDesired_ModeImageWithoutDigest_AndIngressPorts_SortedByName()
    {
        var web = Service("wjlkkkj6u30ckkgrmj3gemuei", "web", new ServiceMode { Replicated = new ReplicatedService { Replicas = 3 } }, running: 3, desired: 3);
        web.Spec.TaskTemplate.ContainerSpec = new ContainerSpec { Image = "nginx:1.27@sha256:0123456789abcdef" };
        web.Endpoint.Ports =
        [
            new PortConfig { Protocol = "tcp", TargetPort = 80, PublishedPort = 8080, PublishMode = "ingress" },
            new PortConfig { Protocol = "tcp", TargetPort = 81, PublishedPort = 8081, PublishMode = "ingress" },
            new PortConfig { Protocol = "udp", TargetPort = 53, PublishedPort = 53, PublishMode = "ingress" },
            new PortConfig { Protocol = "tcp", TargetPort = 9000, PublishedPort = 9000, PublishMode = "host" },
        ];
        var agent = Service("0ze7r37r5357ty0e0mhro4b97", "agent", new ServiceMode { Global = new GlobalService() }, running: 1, desired: 2);

        var rows = ServiceTables.ServiceRows([web, agent]);

        Assert.Equal(["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], rows[0]);
        Assert.Equal(["0ze7r37r5357", "agent", "global", "1/2", "busybox", string.Empty], rows[1]);
        Assert.Equal(["wjlkkkj6u30c", "web", "replicated", "3/3", "nginx:1.27", "*:8080-8081->80-81/tcp, *:53->53/udp"], rows[2]);
    }

    [Fact]
    public void ServiceLs_Replicas_ForJobsAndAPerNodeCap()
    {
        var capped = Service("a", "capped", new ServiceMode { Replicated = new ReplicatedService { Replicas = 3 } }, running: 2, desired: 3);
        capped.Spec.TaskTemplate.Placement = new Placement { MaxReplicas = 1 };
        var job = Service("b", "job", new ServiceMode { ReplicatedJob = new ReplicatedJob { MaxConcurrent = 2, TotalCompletions = 5 } }, running: 2, desired: 2, completed: 3);
        var globalJob = Service("c", "gjob", new ServiceMode { GlobalJob = new GlobalJob() }, running: 1, desired: 1, completed: 2);

        Assert.Equal("2/3 (max 1 per node)", ServiceTables.Replicas(capped));
        Assert.Equal("2/2 (3/5 completed)", ServiceTables.Replicas(job));
        Assert.Equal("1/1 (2/3 completed)", ServiceTables.Replicas(globalJob));
        Assert.Equal(["replicated job", "global job"], new[] { ServiceTables.ModeOf(job.Spec.Mode), ServiceTables.ModeOf(globalJob.Spec.Mode) });
    }

    [Fact]
    public void ServicePs_NamesTasksBySlot_ShowsHistoryUnderTheCurrentTask_AndAgesStates()
    {
        var current = Task("task1new0000000000000000a", slot: 1, created: Now.AddMinutes(-1), state: "running", desired: "running", at: Now.AddSeconds(-39));
        var failed = Task("task1old0000000000000000b", slot: 1, created: Now.AddMinutes(-5), state: "failed", desired: "shutdown", at: Now.AddMinutes(-2), error: "task: non-zero exit (137): killed by the OOM killer");
        var second = Task("task2000000000000000000000", slot: 2, created: Now.AddMinutes(-5), state: "running", desired: "running", at: Now.AddHours(-3));
        var tenth = Task("task10000000000000000000000", slot: 10, created: Now.AddMinutes(-5), state: "pending", desired: "running", at: Now.AddSeconds(-1), node: null);

        var rows = ServiceTables.TaskRows([failed, tenth, second, current], _ => "web", id => id == "node-1-id" ? "worker-1" : id, Now, noTrunc: false);

        Assert.Equal(["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"], rows[0]);
        Assert.Equal(["task1new0000", "web.1", "busybox", "worker-1", "Running", "Running 39 seconds ago", string.Empty, string.Empty], rows[1]);
        Assert.Equal(["task1old0000", @" \_ web.1", "busybox", "worker-1", "Shutdown", "Failed 2 minutes ago", "\"task: non-zero exit (137): ki…\"", string.Empty], rows[2]);
        Assert.Equal(["task20000000", "web.2", "busybox", "worker-1", "Running", "Running 3 hours ago", string.Empty, string.Empty], rows[3]);
        // Natural order: web.10 after web.2; an unassigned task has no node.
        Assert.Equal(["task10000000", "web.10", "busybox", string.Empty, "Running", "Pending 1 second ago", string.Empty, string.Empty], rows[4]);
    }

    [Fact]
    public void ServicePs_GlobalTasksAreNamedByNode_AndNoTruncShowsEverythingWhole()
    {
        var task = Task("0ze7r37r5357ty0e0mhro4b97", slot: 0, created: Now, state: "running", desired: "running", at: Now, error: new string('x', 40));
        task.Spec.ContainerSpec!.Image = "nginx:1.27@sha256:abc";
        task.Status.PortStatus.Ports = [new PortConfig { Protocol = "tcp", TargetPort = 80, PublishedPort = 8080, PublishMode = "host" }];

        var row = ServiceTables.TaskRows([task], _ => "agent", _ => "worker-1", Now, noTrunc: true)[1];

        Assert.Equal(
            ["0ze7r37r5357ty0e0mhro4b97", "agent.node-1-id", "nginx:1.27@sha256:abc", "worker-1", "Running", "Running less than a second ago", $"\"{new string('x', 40)}\"", "*:8080->80/tcp"],
            row);
    }

    [Theory]
    [InlineData(0.5, "Less than a second")]
    [InlineData(1, "1 second")]
    [InlineData(59, "59 seconds")]
    [InlineData(60, "About a minute")]
    [InlineData(59 * 60, "59 minutes")]
    [InlineData(90 * 60, "2 hours")]
    [InlineData(3 * 86400, "3 days")]
    [InlineData(20 * 86400, "2 weeks")]
    [InlineData(90 * 86400, "3 months")]
    [InlineData(800 * 86400, "2 years")]
    public void HumanDuration_IsGoUnits(double seconds, string expected) =>
        Assert.Equal(expected, ServiceTables.HumanDuration(TimeSpan.FromSeconds(seconds)));

    private static Service Service(string id, string name, ServiceMode mode, ulong running, ulong desired, ulong completed = 0) => new()
    {
        ID = id,
        Spec = new ServiceSpec { Name = name, Mode = mode, TaskTemplate = new TaskSpec { ContainerSpec = new ContainerSpec { Image = "busybox" } } },
        ServiceStatus = new ServiceStatus { RunningTasks = running, DesiredTasks = desired, CompletedTasks = completed },
    };

    private static SwarmTask Task(string id, long slot, DateTimeOffset created, string state, string desired, DateTimeOffset at, string? error = null, string? node = "node-1-id") => new()
    {
        ID = id,
        ServiceID = "service-id",
        Slot = slot,
        NodeID = node,
        CreatedAt = created,
        DesiredState = desired,
        Spec = new TaskSpec { ContainerSpec = new ContainerSpec { Image = "busybox" } },
        Status = new SwarmTaskStatus { State = state, Timestamp = at, Err = error },
    };
}
