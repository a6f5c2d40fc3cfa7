()=>{w.push((t,_,r,u)=>{if(u&&/^http/.test(u.protocol)&&u.host!=c.host)return I("outbound",u.hostname,{url:u.origin+u.pathname})})}
