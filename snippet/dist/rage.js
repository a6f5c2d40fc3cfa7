()=>{let e,t,o,r=0;g("click",i=>{let a=l();a-r<1e3&&Math.hypot(e-i.clientX,t-i.clientY)<30?o++:(r=a,e=i.clientX,t=i.clientY,o=1),3==o&&R("rage_click",void 0,b(u(i)))})}
