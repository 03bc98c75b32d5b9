using System.Net.Sockets;

namespace Shoal.TestKit;

/// <summary>HTTP clients that speak to a local API over its unix socket.</summary>
public static class UnixSocketHttp
{
    /// <summary>A client whose every connection goes to <paramref name="socketPath"/>.</summary>
    public static HttpClient Create(string socketPath, TimeSpan? timeout = null) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    {
        BaseAddress = new Uri("http://docker"),
        Timeout = timeout ?? TimeSpan.FromSeconds(20),
    };
}
