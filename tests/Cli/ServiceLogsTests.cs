using System.Buffers.Binary;
using System.Text;
using Shoal.Cli.Commands;
using Shoal.Cli.Output;
using Shoal.DockerApi.Model;

namespace Shoal.Cli.Tests;

/// <summary><c>service logs</c>: Docker's multiplexed stream read, each line labelled <c>service.slot.task@node</c>.</summary>
public sealed class ServiceLogsTests : IDisposable
{
    private const string Details = "com.docker.swarm.node.id=node1,com.docker.swarm.service.id=svc1,com.docker.swarm.task.id=task1aaaaaaaaaaaaaaaaaaaa";
    private const string Details2 = "com.docker.swarm.node.id=node1,com.docker.swarm.service.id=svc1,com.docker.swarm.task.id=task2bbbbbbbbbbbbbbbbbbbb";

    private readonly FakeResolver _resolver = new();
    private readonly StringWriter _out = new();
    private readonly StringWriter _error = new();

    public void Dispose()
    {
        _out.Dispose();
        _error.Dispose();
    }

    [Fact]
    public async Task Lines_AreLabelledLikeDockers_StderrGoesToStderr_AndEachContextIsResolvedOnce()
    {
        var writer = Writer(new ServiceLogOptions(Timestamps: false, NoTaskIds: false, NoTrunc: false, Raw: false), slotDigits: 2);
        using var stream = Frames((1, $"{Details} hello\n"), (2, $"{Details} oops\n"), (1, $"{Details2} world with spaces\n"), (1, $"{Details} again\n"));

        await writer.CopyMultiplexedAsync(stream, TestContext.Current.CancellationToken);

        Assert.Equal(
            "web.1.task1aaaaaaa@worker-1     | hello\n"
            + "web.10.task2bbbbbbb@worker-1    | world with spaces\n"
            + "web.1.task1aaaaaaa@worker-1     | again\n",
            _out.ToString());
        Assert.Equal("web.1.task1aaaaaaa@worker-1     | oops\n", _error.ToString());
        Assert.Equal(["node node1", "service svc1", "task task1aaaaaaaaaaaaaaaaaaaa", "node node1", "service svc1", "task task2bbbbbbbbbbbbbbbbbbbb"], _resolver.Calls);
    }

    [Fact]
    public async Task Timestamps_StayInFront_AndNoTaskIdsLeavesTheIdOut()
    {
        var writer = Writer(new ServiceLogOptions(Timestamps: true, NoTaskIds: true, NoTrunc: false, Raw: false), slotDigits: 0);
        using var stream = Frames((1, $"2026-12-06T12:00:00.123456789Z {Details} hello\n"));

        await writer.CopyMultiplexedAsync(stream, TestContext.Current.CancellationToken);

        Assert.Equal("2026-12-06T12:00:00.123456789Z web.1@worker-1    | hello\n", _out.ToString());
    }

    [Fact]
    public async Task Raw_WritesTheLinesAsSent()
    {
        var writer = Writer(new ServiceLogOptions(Timestamps: false, NoTaskIds: false, NoTrunc: false, Raw: true), slotDigits: 0);
        using var stream = Frames((1, "plain line\n"));

        await writer.CopyMultiplexedAsync(stream, TestContext.Current.CancellationToken);

        Assert.Equal("plain line\n", _out.ToString());
        Assert.Empty(_resolver.Calls);
    }

    [Fact]
    public async Task ALineWithoutTheSwarmDetails_IsAnErrorNamingWhatIsMissing()
    {
        var writer = Writer(new ServiceLogOptions(false, false, false, false), slotDigits: 0);
        using var stream = Frames((1, "com.docker.swarm.service.id=svc1,com.docker.swarm.task.id=t hello\n"));

        var error = await Assert.ThrowsAsync<CommandException>(() => writer.CopyMultiplexedAsync(stream, TestContext.Current.CancellationToken));

        Assert.StartsWith("missing node id in details", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStreamCutInsideAFrame_IsReported()
    {
        var writer = Writer(new ServiceLogOptions(false, false, false, false), slotDigits: 0);
        var bytes = Frames((1, $"{Details} hello\n")).ToArray();
        using var cut = new MemoryStream(bytes[..^3]);

        var error = await Assert.ThrowsAsync<CommandException>(() => writer.CopyMultiplexedAsync(cut, TestContext.Current.CancellationToken));

        Assert.Equal("the node's log stream ended inside a frame", error.Message);
    }

    [Fact]
    public void Details_AreUrlDecoded()
    {
        var details = ServiceLogWriter.ParseDetails("a=b%20c,com.docker.swarm.node.id=n%2C1");

        Assert.Equal(("b c", "n,1"), (details["a"], details["com.docker.swarm.node.id"]));
    }

    [Fact]
    public void Query_IsTheGoClientsInItsOrder()
    {
        Assert.Equal("details=1&stderr=1&stdout=1&tail=all", ServiceCommands.LogsQuery(new ServiceLogOptions(false, false, false, false), follow: false, "all"));
        Assert.Equal("details=1&follow=1&stderr=1&stdout=1&tail=10&timestamps=1", ServiceCommands.LogsQuery(new ServiceLogOptions(true, false, false, false), follow: true, "10"));
        Assert.Equal("stderr=1&stdout=1&tail=all", ServiceCommands.LogsQuery(new ServiceLogOptions(false, false, false, true), follow: false, "all"));
    }

    private ServiceLogWriter Writer(ServiceLogOptions options, int slotDigits) => new(_out, _error, options, _resolver, slotDigits);

    private static MemoryStream Frames(params (byte Stream, string Text)[] frames)
    {
        var buffer = new MemoryStream();
        foreach (var (stream, text) in frames)
        {
            var payload = Encoding.UTF8.GetBytes(text);
            var header = new byte[8];
            header[0] = stream;
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)payload.Length);
            buffer.Write(header);
            buffer.Write(payload);
        }

        buffer.Position = 0;
        return buffer;
    }

    private sealed class FakeResolver : ILogContextResolver
    {
        public List<string> Calls { get; } = [];

        public Task<string> NodeNameAsync(string nodeId, CancellationToken cancellationToken)
        {
            Calls.Add("node " + nodeId);
            return Task.FromResult("worker-1");
        }

        public Task<string> ServiceNameAsync(string serviceId, CancellationToken cancellationToken)
        {
            Calls.Add("service " + serviceId);
            return Task.FromResult("web");
        }

        public Task<SwarmTask> TaskAsync(string taskId, CancellationToken cancellationToken)
        {
            Calls.Add("task " + taskId);
            return Task.FromResult(new SwarmTask { ID = taskId, Slot = taskId.StartsWith("task2", StringComparison.Ordinal) ? 10 : 1 });
        }
    }
}
