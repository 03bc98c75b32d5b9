using System.Text;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Proto = Shoal.Api;

namespace Shoal.DockerApi;

// Service and task logs (docker-api-subset §2.6), and the registry digest lookup the CLI makes before it creates or
// updates a service (§2.9).
internal sealed partial class DockerEndpoints
{
    private static readonly Version MultiplexedStreamVersion = new(1, 42);

    private void MapLogs(IEndpointRouteBuilder app)
    {
        Route(app, "/services/{id}/logs", ServiceLogsAsync, "GET");
        Route(app, "/tasks/{id}/logs", TaskLogsAsync, "GET");
    }

    private static void MapDistribution(IEndpointRouteBuilder app) =>
        Route(app, "/distribution/{**reference}", DistributionInspectAsync, "GET");

    private async Task ServiceLogsAsync(HttpContext context)
    {
        var control = RequireManager();
        var options = DockerLogOptions.Parse(context.Request.Query, name => QueryBool(context, name));
        var service = await FindServiceAsync(control, context, insertDefaults: false);
        var selector = new Proto.LogSelector();
        selector.ServiceIds.Add(service.Id);
        await StreamLogsAsync(control, context, selector, options, tty: service.Spec?.Task?.Container?.Tty == true);
    }

    private async Task TaskLogsAsync(HttpContext context)
    {
        var control = RequireManager();
        var options = DockerLogOptions.Parse(context.Request.Query, name => QueryBool(context, name));
        var task = await FindTaskAsync(control, context);
        var selector = new Proto.LogSelector();
        selector.TaskIds.Add(task.Id);
        await StreamLogsAsync(control, context, selector, options, tty: task.Spec?.Container?.Tty == true);
    }

    /// <summary>
    /// Relays the control API's log subscription: multiplexed frames for non-TTY tasks, raw bytes for TTY ones, each
    /// line flushed as it comes. A failure before the answer starts is an ordinary error response (without follow the
    /// first batch is awaited first, so a refused subscription reads as its HTTP status); one after it started goes
    /// into the stream as moby writes it ("Error grabbing logs: …"), which the CLI prints.
    /// </summary>
    private async Task StreamLogsAsync(Proto.Control.ControlClient control, HttpContext context, Proto.LogSelector selector, DockerLogOptions options, bool tty)
    {
        var aborted = context.RequestAborted;
        var request = new Proto.SubscribeLogsRequest { Selector = selector, Options = options.ToProto() };
        using var call = control.SubscribeLogs(request, cancellationToken: aborted);
        var stream = call.ResponseStream;
        var more = false;
        try
        {
            await call.ResponseHeadersAsync;
            if (!options.Follow)
            {
                more = await stream.MoveNext(aborted);
            }
        }
        catch (RpcException) when (aborted.IsCancellationRequested)
        {
            return;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;

        // moby names the multiplexed framing only from API 1.42 on; older clients get it labelled as a raw stream.
        var multiplexedType = DockerApiServer.RequestedVersion(context) >= MultiplexedStreamVersion;
        response.ContentType = tty || !multiplexedType ? DockerLogFrames.RawStream : DockerLogFrames.MultiplexedStream;
        await response.Body.FlushAsync(aborted);
        try
        {
            if (options.Follow)
            {
                more = await stream.MoveNext(aborted);
            }

            while (more)
            {
                foreach (var message in stream.Current.Messages)
                {
                    if (!options.Wants(message.Stream))
                    {
                        continue;
                    }

                    var line = DockerLogFrames.Format(message, options.Timestamps, options.Details);
                    if (tty)
                    {
                        await response.Body.WriteAsync(line, aborted);
                    }
                    else
                    {
                        await DockerLogFrames.WriteFrameAsync(response.Body, (byte)message.Stream, line, aborted);
                    }

                    await response.Body.FlushAsync(aborted);
                }

                more = await stream.MoveNext(aborted);
            }
        }
        catch (Exception e) when (aborted.IsCancellationRequested && e is RpcException or OperationCanceledException)
        {
            // The client went away (Ctrl-C on `docker service logs -f`): nothing left to answer.
        }
        catch (RpcException e)
        {
            LogStreamFailed(logger, e, context.Request.Path.Value ?? string.Empty, e.StatusCode);
            var text = Encoding.UTF8.GetBytes($"Error grabbing logs: {DockerErrors.FromRpc(e).Message}\n");
            if (tty)
            {
                await response.Body.WriteAsync(text, aborted);
            }
            else
            {
                await DockerLogFrames.WriteFrameAsync(response.Body, DockerLogFrames.SystemErrorStream, text, aborted);
            }
        }
    }

    /// <summary>
    /// <c>GET /distribution/{image}/json</c>: this node does not query registries, so the answer is a quick 404 and the
    /// CLI goes on with the unpinned tag after its warning ("image … could not be accessed on a registry to record its
    /// digest").
    /// </summary>
    private static Task DistributionInspectAsync(HttpContext context)
    {
        var path = (string?)context.Request.RouteValues["reference"] ?? string.Empty;
        const string Suffix = "/json";
        if (!path.EndsWith(Suffix, StringComparison.Ordinal) || path.Length == Suffix.Length)
        {
            throw new DockerApiException(404, "page not found");
        }

        var image = path[..^Suffix.Length];
        throw new DockerApiException(404,
            $"image {image}: this Shoal node does not look up image digests in registries; each node pulls the tag itself");
    }

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Docker API log stream {Path} ended with {StatusCode}; the client was told in the stream")]
    private static partial void LogStreamFailed(ILogger logger, Exception exception, string path, StatusCode statusCode);
}
