using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Shoal.DockerApi.Model;
using Shoal.TestKit;
using Proto = Shoal.Api;

namespace Shoal.DockerApi.Tests.Model;

/// <summary>Tasks in Docker's shape: the fields <c>service ps</c>, the progress display and <c>service logs</c> read.</summary>
public sealed class TaskMappingTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public void RunningTask_ShowsStatusContainerPortsNetworksAndJobIteration()
    {
        var service = Objects.Service("web", id: "svc0000000000000000000001");
        var task = Objects.Task(service, slot: 3, nodeId: "node000000000000000000001", state: Proto.TaskState.Running, id: "tsk0000000000000000000001");
        task.Meta = new Proto.Meta { Version = 16, CreatedAt = Timestamp.FromDateTimeOffset(Now), UpdatedAt = Timestamp.FromDateTimeOffset(Now) };
        task.Status.Timestamp = Timestamp.FromDateTimeOffset(Now);
        task.Status.Message = "started";
        task.Status.Container = new Proto.ContainerStatus { ContainerId = "c0ffee", Pid = 4242, ExitCode = 0 };
        task.Status.PortStatus = new Proto.PortStatus { Ports = { new Proto.PortConfig { TargetPort = 80, PublishedPort = 8080, PublishMode = Proto.PublishMode.Host } } };
        task.JobIteration = 4;
        task.Networks.Add(new Proto.NetworkAttachment
        {
            Network = new Proto.Network
            {
                Id = "net1",
                Spec = new Proto.NetworkSpec { Annotations = new Proto.Annotations { Name = "ingress" }, Ingress = true, DriverConfig = new Proto.Driver { Name = "overlay" } },
                Ipam = new Proto.IpamOptions { Driver = new Proto.Driver { Name = "default" }, Configs = { new Proto.IpamConfig { Subnet = "10.0.0.0/24", Gateway = "10.0.0.1" } } },
            },
            Addresses = { "10.0.0.7/24" },
        });

        var json = Serialize(TaskMapping.ToDocker(task));

        Assert.Equal("tsk0000000000000000000001", (string?)json["ID"]);
        Assert.Equal(16, (int?)json["Version"]!["Index"]);
        Assert.Equal("2026-12-06T09:00:00Z", (string?)json["CreatedAt"]);
        Assert.Equal("web.3.tsk0000000000000000000001", (string?)json["Name"]);
        Assert.Equal(3, (int?)json["Slot"]);
        Assert.Equal("node000000000000000000001", (string?)json["NodeID"]);
        Assert.Equal("running", (string?)json["DesiredState"]);
        Assert.Equal(
            """{"Timestamp":"2026-12-06T09:00:00Z","State":"running","Message":"started","ContainerStatus":{"ContainerID":"c0ffee","PID":4242},"PortStatus":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"host"}]}}""",
            json["Status"]!.ToJsonString());
        Assert.Equal(4, (int?)json["JobIteration"]!["Index"]);
        var attachment = json["NetworksAttachments"]![0]!;
        Assert.Equal("ingress", (string?)attachment["Network"]!["Spec"]!["Name"]);
        Assert.True((bool?)attachment["Network"]!["Spec"]!["Ingress"]);
        Assert.Equal("10.0.0.0/24", (string?)attachment["Network"]!["IPAMOptions"]!["Configs"]![0]!["Subnet"]);
        Assert.Equal("10.0.0.7/24", (string?)attachment["Addresses"]![0]);
        Assert.Equal("busybox:latest", (string?)json["Spec"]!["ContainerSpec"]!["Image"]);
    }

    [Fact]
    public void GlobalAndUnassignedTasks_OmitSlotAndNode_AndNeverWriteEmptyTimes()
    {
        var task = Objects.Task(Objects.Service("agent"), slot: 0, nodeId: string.Empty, state: Proto.TaskState.Pending);

        var json = Serialize(TaskMapping.ToDocker(task)).AsObject();

        Assert.False(json.ContainsKey("Slot"));
        Assert.False(json.ContainsKey("NodeID"));
        Assert.False(json.ContainsKey("CreatedAt"));
        Assert.False(json["Status"]!.AsObject().ContainsKey("Timestamp"));
        Assert.Equal("{}", json["Status"]!["PortStatus"]!.ToJsonString());
        Assert.False(json.ContainsKey("JobIteration"));
    }

    [Theory]
    [InlineData("new", Proto.TaskState.New)]
    [InlineData("pending", Proto.TaskState.Pending)]
    [InlineData("assigned", Proto.TaskState.Assigned)]
    [InlineData("accepted", Proto.TaskState.Accepted)]
    [InlineData("running", Proto.TaskState.Running)]
    [InlineData("complete", Proto.TaskState.Complete)]
    [InlineData("shutdown", Proto.TaskState.Shutdown)]
    [InlineData("failed", Proto.TaskState.Failed)]
    [InlineData("rejected", Proto.TaskState.Rejected)]
    [InlineData("remove", Proto.TaskState.Remove)]
    [InlineData("orphaned", Proto.TaskState.Orphaned)]
    public void StateNames_AreDockers_BothWays(string name, Proto.TaskState state)
    {
        Assert.Equal(name, TaskMapping.StateName(state));
        Assert.Equal(state, TaskMapping.ParseState(name));
    }

    [Fact]
    public void UnknownStateName_IsNull()
    {
        Assert.Null(TaskMapping.ParseState("sleeping"));
        Assert.Null(TaskMapping.ParseState("RUNNING"));
    }

    private static JsonNode Serialize(SwarmTask task) => JsonSerializer.SerializeToNode(task, DockerJsonContext.Default.SwarmTask)!;
}
