using System.Buffers.Binary;
using System.Runtime.Versioning;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Shoal.Api;
using Shoal.DockerApi.Model;
using Shoal.TestKit;

namespace Shoal.DockerApi.Tests;

/// <summary>
/// <c>GET /services/{id}/logs</c> and <c>GET /tasks/{id}/logs</c> over the unix socket, in front of a fake control API:
/// Docker's framing, details, timestamps, stream selection and the subscription options.
/// </summary>
[UnsupportedOSPlatform("windows")]
public sealed class DockerLogTests : IAsyncLifetime
{
    private const string ServiceId = "svc0000000000000000000001";
    private const string TaskId = "tsk0000000000000000000001";
    private const string NodeId = "nod0000000000000000000001";

    private readonly FakeLogControl _control = new();
    private FakeSwarmNode _node = null!;
    private DockerApiServer _server = null!;
    private HttpClient _http = null!;
    private string _directory = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var service = Objects.Service("web", replicas: 1, id: ServiceId);
        _control.Services[ServiceId] = service;
        var task = Objects.Task(service, slot: 1, nodeId: NodeId, state: TaskState.Running, id: TaskId);
        _control.Tasks[TaskId] = task;
        var worker = Objects.Node("worker-1", id: NodeId);
        _control.Nodes[NodeId] = worker;
        _node = new FakeSwarmNode
        {
            Info = new LocalNodeInfo { NodeId = "self", LocalNodeState = LocalNodeStates.Active, ControlAvailable = true },
            Control = _control,
        };
        _directory = Path.Combine(Path.GetTempPath(), "shoal-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_directory);
        _server = await DockerApiServer.StartAsync(Path.Combine(_directory, "shoal.sock"), _node, cancellationToken: Ct);
        _http = UnixSocketHttp.Create(_server.SocketPath);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task ServiceLogs_NonTty_AreMultiplexedFrames_WithTheSwarmDetails()
    {
        await _control.Logs.Writer.WriteAsync(Batch(Line(LogStream.Stdout, "hello"), Line(LogStream.Stderr, "oops")), Ct);
        _control.Logs.Writer.Complete();

        using var response = await GetAsync($"/v1.50/services/web/logs?details=1&stderr=1&stdout=1&tail=all");

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("application/vnd.docker.multiplexed-stream", response.Content.Headers.ContentType?.MediaType);
        var frames = ReadFrames(await response.Content.ReadAsByteArrayAsync(Ct));
        const string Details = $"com.docker.swarm.node.id={NodeId},com.docker.swarm.service.id={ServiceId},com.docker.swarm.task.id={TaskId}";
        Assert.Equal([(1, Details + " hello\n"), (2, Details + " oops\n")], frames);

        var (request, _) = Assert.Single(_control.Subscriptions);
        Assert.Equal([ServiceId], request.Selector.ServiceIds);
        Assert.Empty(request.Options.Streams);
        Assert.Equal(-1, request.Options.Tail);
        Assert.False(request.Options.Follow);
    }

    [Fact]
    public void Details_AreSortedByKey_UrlQueryEscaped_AndTheContextWinsOverAnAttribute()
    {
        var message = Line(LogStream.Stdout, "x");
        message.Attrs.Add(new LogAttr { Key = "zeta key", Value = "a b,c=d/é" });
        message.Attrs.Add(new LogAttr { Key = "alpha", Value = "1" });
        message.Attrs.Add(new LogAttr { Key = "com.docker.swarm.task.id", Value = "forged" });

        var details = DockerLogFrames.FormatDetails(message);

        Assert.Equal(
            $"alpha=1,com.docker.swarm.node.id={NodeId},com.docker.swarm.service.id={ServiceId},com.docker.swarm.task.id={TaskId},zeta+key=a+b%2Cc%3Dd%2F%C3%A9",
            details);
    }

    [Fact]
    public async Task Timestamps_PrefixEachLine_InRfc3339NanoFixed_BeforeTheDetails()
    {
        var first = Line(LogStream.Stdout, "one");
        first.Timestamp = new Timestamp { Seconds = 1_765_011_600, Nanos = 120_000_000 };
        var second = Line(LogStream.Stdout, "two");
        second.Timestamp = new Timestamp { Seconds = 1_765_011_601, Nanos = 7 };
        await _control.Logs.Writer.WriteAsync(Batch(first, second), Ct);
        _control.Logs.Writer.Complete();

        using var response = await GetAsync($"/tasks/{TaskId}/logs?stdout=1&timestamps=1");

        var frames = ReadFrames(await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal([(1, "2025-12-06T09:00:00.120000000Z one\n"), (1, "2025-12-06T09:00:01.000000007Z two\n")], frames);
        var (request, _) = Assert.Single(_control.Subscriptions);
        Assert.Equal([TaskId], request.Selector.TaskIds);
        Assert.Equal([LogStream.Stdout], request.Options.Streams);
    }

    [Fact]
    public async Task StderrOnly_AsksForStderr_AndDropsOtherLines()
    {
        await _control.Logs.Writer.WriteAsync(Batch(Line(LogStream.Stdout, "out"), Line(LogStream.Stderr, "err"), Line(LogStream.Unknown, "?")), Ct);
        _control.Logs.Writer.Complete();

        using var response = await GetAsync("/services/web/logs?stderr=1");

        Assert.Equal([(2, "err\n")], ReadFrames(await response.Content.ReadAsByteArrayAsync(Ct)));
        Assert.Equal([LogStream.Stderr], Assert.Single(_control.Subscriptions).Request.Options.Streams);
    }

    [Fact]
    public async Task TailSinceUntilAndFollow_GoToTheSubscription()
    {
        _control.Logs.Writer.Complete();

        using var response = await GetAsync("/services/web/logs?stdout=1&tail=20&since=1700000000.5&until=2025-12-06T09:00:00Z&follow=1");

        Assert.Equal(200, (int)response.StatusCode);
        var options = Assert.Single(_control.Subscriptions).Request.Options;
        Assert.Equal(20, options.Tail);
        Assert.True(options.Follow);
        Assert.Equal(new Timestamp { Seconds = 1_700_000_000, Nanos = 500_000_000 }, options.Since);
        Assert.Equal(new Timestamp { Seconds = 1_765_011_600 }, options.Until);
    }

    [Fact]
    public async Task Follow_FlushesEachLineAsItComes_AndCancelsTheSubscriptionWhenTheClientLeaves()
    {
        using var response = await _http.GetAsync(new Uri("/services/web/logs?stdout=1&follow=1", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead, Ct);
        var body = await response.Content.ReadAsStreamAsync(Ct);

        await _control.Logs.Writer.WriteAsync(Batch(Line(LogStream.Stdout, "first")), Ct);
        Assert.Equal((1, "first\n"), await ReadFrameAsync(body));
        await _control.Logs.Writer.WriteAsync(Batch(Line(LogStream.Stdout, "second")), Ct);
        Assert.Equal((1, "second\n"), await ReadFrameAsync(body));

        response.Dispose();
        var cancellation = Assert.Single(_control.Subscriptions).Cancellation;
        await Eventually.TrueAsync(() => cancellation.IsCancellationRequested, "the subscription is cancelled once the client disconnects", cancellationToken: Ct);
    }

    [Fact]
    public async Task ClientsBeforeApi142_GetTheSameFrames_LabelledAsARawStream()
    {
        await _control.Logs.Writer.WriteAsync(Batch(Line(LogStream.Stdout, "old client")), Ct);
        _control.Logs.Writer.Complete();

        using var response = await GetAsync("/v1.41/services/web/logs?stdout=1");

        Assert.Equal("application/vnd.docker.raw-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal([(1, "old client\n")], ReadFrames(await response.Content.ReadAsByteArrayAsync(Ct)));
    }

    [Fact]
    public async Task TtyService_IsARawStream()
    {
        var service = _control.Services[ServiceId];
        service.Spec.Task.Container.Tty = true;
        await _control.Logs.Writer.WriteAsync(Batch(Line(LogStream.Stdout, "tty line")), Ct);
        _control.Logs.Writer.Complete();

        using var response = await GetAsync("/services/web/logs?stdout=1&stderr=1");

        Assert.Equal("application/vnd.docker.raw-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("tty line\n", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task AnErrorAfterTheAnswerStarted_IsASystemErrorFrame_AsMobyWritesIt()
    {
        await _control.Logs.Writer.WriteAsync(Batch(Line(LogStream.Stdout, "before")), Ct);
        _control.Logs.Writer.Complete(new RpcException(new Status(StatusCode.Unavailable, "node worker-1 went away")));

        using var response = await GetAsync("/services/web/logs?stdout=1");

        Assert.Equal(
            [(1, "before\n"), (3, "Error grabbing logs: rpc error: code = Unavailable desc = node worker-1 went away\n")],
            ReadFrames(await response.Content.ReadAsByteArrayAsync(Ct)));
    }

    [Theory]
    [InlineData("/services/web/logs", 400, "you must choose at least one stream")]
    [InlineData("/services/web/logs?stdout=1&tail=lots", 400, "invalid tail value 'lots'")]
    [InlineData("/services/web/logs?stdout=1&since=yesterday", 400, "invalid since value 'yesterday'")]
    [InlineData("/services/nosuch/logs?stdout=1", 404, "service nosuch not found")]
    [InlineData("/tasks/nosuch/logs?stdout=1", 404, "task nosuch not found")]
    public async Task BadRequests_AndUnknownTargets_AreDockerErrors(string path, int status, string message)
    {
        using var response = await GetAsync(path);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Contains(message, await ErrorMessageAsync(response), StringComparison.Ordinal);
        Assert.Empty(_control.Subscriptions);
    }

    [Fact]
    public async Task ASubscriptionRefusedBeforeItAnswers_IsAnHttpError()
    {
        _control.RefuseSubscription = new RpcException(new Status(StatusCode.Unimplemented, "log broker not running"));

        using var response = await GetAsync("/services/web/logs?stdout=1");

        Assert.Equal(501, (int)response.StatusCode);
        Assert.Equal("rpc error: code = Unimplemented desc = log broker not running", await ErrorMessageAsync(response));
    }

    [Fact]
    public async Task WithoutFollow_AFailureBeforeTheFirstLine_IsAnHttpError_WithFollow_ItIsInTheStream()
    {
        _control.Logs.Writer.Complete(new RpcException(new Status(StatusCode.Unavailable, "no manager is leader")));

        using var once = await GetAsync("/services/web/logs?stdout=1");
        Assert.Equal(503, (int)once.StatusCode);
        Assert.Equal("rpc error: code = Unavailable desc = no manager is leader", await ErrorMessageAsync(once));

        using var followed = await GetAsync("/services/web/logs?stdout=1&follow=1");
        Assert.Equal(200, (int)followed.StatusCode);
        Assert.Equal(
            [(3, "Error grabbing logs: rpc error: code = Unavailable desc = no manager is leader\n")],
            ReadFrames(await followed.Content.ReadAsByteArrayAsync(Ct)));
    }

    [Fact]
    public async Task OnANodeThatIsNotAManager_LogsAre503()
    {
        _node.Control = null;

        using var response = await GetAsync("/services/web/logs?stdout=1");

        Assert.Equal(503, (int)response.StatusCode);
        Assert.Equal(DockerApiException.NotAManagerMessage, await ErrorMessageAsync(response));
    }

    [Fact]
    public async Task DockerServiceLogs_PrintsEachLineWithItsTaskAndNode()
    {
        Assert.SkipUnless(DockerCli.IsInstalled, $"the docker CLI is not installed at {DockerCli.Path}");
        await _control.Logs.Writer.WriteAsync(Batch(Line(LogStream.Stdout, "hello from web"), Line(LogStream.Stderr, "warning from web")), Ct);
        _control.Logs.Writer.Complete();

        var (exitCode, output, error) = await DockerCli.RunAsync(_server.SocketPath, Path.Combine(_directory, "docker-config"), ["service", "logs", "web"], cancellationToken: Ct);

        Assert.True(exitCode == 0, $"docker service logs exited {exitCode}: {error}");
        var prefix = $"web.1.{TaskId[..12]}@worker-1";
        Assert.Contains(output.Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal) && l.EndsWith("| hello from web", StringComparison.Ordinal));
        Assert.Contains(error.Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal) && l.EndsWith("| warning from web", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DockerServiceLogs_WithTimestamps_ByTaskId_ParsesEachLine()
    {
        Assert.SkipUnless(DockerCli.IsInstalled, $"the docker CLI is not installed at {DockerCli.Path}");
        var message = Line(LogStream.Stdout, "stamped line");
        message.Timestamp = new Timestamp { Seconds = 1_765_011_600, Nanos = 5 };
        await _control.Logs.Writer.WriteAsync(Batch(message), Ct);
        _control.Logs.Writer.Complete();

        var (exitCode, output, error) = await DockerCli.RunAsync(_server.SocketPath, Path.Combine(_directory, "docker-config"), ["service", "logs", "--timestamps", "--no-task-ids", TaskId], cancellationToken: Ct);

        Assert.True(exitCode == 0, $"docker service logs exited {exitCode}: {error}");
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("2025-12-06T09:00:00.000000005Z web.1@worker-1", line, StringComparison.Ordinal);
        Assert.EndsWith("| stamped line", line, StringComparison.Ordinal);
        Assert.Equal([TaskId], Assert.Single(_control.Subscriptions).Request.Selector.TaskIds);
    }

    private static async Task<string> ErrorMessageAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return System.Text.Json.JsonSerializer.Deserialize(await response.Content.ReadAsStringAsync(Ct), DockerJsonContext.Default.ErrorResponse)!.Message;
    }

    private Task<HttpResponseMessage> GetAsync(string path) => _http.GetAsync(new Uri(path, UriKind.Relative), Ct);

    private static SubscribeLogsMessage Batch(params LogMessage[] messages) => new() { Messages = { messages } };

    private static LogMessage Line(LogStream stream, string text) => new()
    {
        Context = new LogContext { ServiceId = ServiceId, NodeId = NodeId, TaskId = TaskId },
        Timestamp = new Timestamp { Seconds = 1_765_011_600 },
        Stream = stream,
        Data = ByteString.CopyFromUtf8(text),
    };

    private static List<(int Stream, string Text)> ReadFrames(byte[] body)
    {
        var frames = new List<(int, string)>();
        var offset = 0;
        while (offset < body.Length)
        {
            Assert.True(body.Length - offset >= 8, $"a frame header is 8 bytes; {body.Length - offset} left");
            Assert.Equal([0, 0, 0], body[(offset + 1)..(offset + 4)]);
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(offset + 4));
            frames.Add((body[offset], Encoding.UTF8.GetString(body, offset + 8, length)));
            offset += 8 + length;
        }

        return frames;
    }

    private static async Task<(int Stream, string Text)> ReadFrameAsync(Stream body)
    {
        var header = new byte[8];
        await body.ReadExactlyAsync(header, Ct);
        var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4))];
        await body.ReadExactlyAsync(payload, Ct);
        return (header[0], Encoding.UTF8.GetString(payload));
    }
}
